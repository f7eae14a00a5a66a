// ES-module consumer (nodenext): named and default imports of the "import" entry.
import plugsock, { UnixSocketTransport, TransportError, capabilities } from 'plugsock';
import { roundTrip } from './consumer.js';

const t: InstanceType<typeof plugsock.UnixSocketTransport> = new UnixSocketTransport();
const same: boolean = plugsock.TransportError === TransportError;
const native: boolean = capabilities().native;
export const run = async (): Promise<[boolean, boolean, string]> => [same, native, await roundTrip()];
void t;
