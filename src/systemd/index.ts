/**
 * systemd: socket activation (`fromSystemd`), the fd store (`storeListener`, behind
 * `UnixSocketTransport#handOffToSystemd`) and `notify`. docs/systemd.md tells the whole story.
 */
export { type ActivatedTransport, type FromSystemdOptions, type SystemdAdoption, FROM_SYSTEMD_OPTION_KEYS, fromSystemd } from './activation';
export { notify } from './notify';
export { type HandOffToSystemdOptions, type StorableListener, HAND_OFF_TO_SYSTEMD_OPTION_KEYS, serverFd, storeListener } from './store';
