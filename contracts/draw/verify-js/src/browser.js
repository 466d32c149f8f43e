// The browser bundle's entry: everything the "Check my receipt" page needs, as one global
// `vrsVerify` (dist/verify.bundle.js is an IIFE built by build.sh). Nothing here touches the
// network: the page reads the receipt and the pinned trust locally and calls verifyReceipt.

export { verifyReceipt, listChecks, CHECKS } from './verify.js';
export { MESSAGES_VI, messageVi } from './messages.js';
