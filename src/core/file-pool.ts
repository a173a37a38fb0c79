/**
 * The built-in `file` storage provider's name. The core needs it without importing the driver: a
 * folder of disk files that a host reports in its inventory becomes a HOST-scoped pool of this
 * provider (host-manager), and the seed declares the simulator's pools with it.
 */
export const FILE_DRIVER_NAME = 'file';
