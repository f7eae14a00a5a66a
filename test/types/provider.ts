// A Terraform provider's use of plugsock/terraform, compiled with .d.ts files checked
// (skipLibCheck false, TypeScript's default) by test/compat-pack.test.ts in a project that has
// plugsock installed and not @grpc/grpc-js: a provider never loads grpc-js, so it need not
// install it. test/compat-types.test.ts compiles it against the repo (grpc-js present).
import { ProviderError, defineProvider, isUnknown, serveProvider, terraformProtocol, type ProtocolVersion } from 'plugsock/terraform';

const provider = defineProvider({
  schema: { attributes: { root: { type: 'string', optional: true } } },
  configure(config): { root: string | null } {
    if (isUnknown(config.root)) throw new ProviderError('root must be known', { attribute: 'root' });
    return { root: config.root };
  },
  resources: {},
  dataSources: {},
});

export async function main(): Promise<void> {
  const served = await serveProvider(provider, { address: 'example.com/you/name' });
  const path: string = served.address;
  const version: ProtocolVersion = served.appVersion === 5 ? 5 : 6;
  const methods: string[] = Object.keys(terraformProtocol(version).provider);
  served.closed.then(
    () => console.log(path, methods.length),
    () => {},
  );
}
