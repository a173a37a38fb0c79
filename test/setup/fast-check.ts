/**
 * Property tests explore new random inputs on every local run; in CI they replay a fixed seed so a
 * landing is reproducible (set FC_SEED to replay any run, e.g. one a developer saw fail).
 */
import fc from 'fast-check';

const fromEnv = process.env['FC_SEED'];
const seed =
  fromEnv !== undefined && fromEnv !== ''
    ? Number(fromEnv)
    : process.env['CI'] === 'true'
      ? 20261126
      : undefined;
if (seed !== undefined) fc.configureGlobal({ seed });
