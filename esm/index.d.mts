// Types of the ES module entry (index.mjs): the same declarations as the CommonJS build it
// re-exports, seen from an ES module, so `import` gets ESM types and `require` CJS ones.
import * as plugsock from '../dist/index.js';

export * from '../dist/index.js';
export default plugsock;
