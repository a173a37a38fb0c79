/**
 * SHA-256 fingerprints of agent certificates, in one canonical form: upper-case hex pairs joined by
 * colons, which is what Node's `getPeerCertificate().fingerprint256` and `openssl x509 -fingerprint
 * -sha256` print. Admins may paste it with or without colons, in either case.
 */

const HEX_64 = /^[0-9A-F]{64}$/;

/** The canonical form of a SHA-256 fingerprint, or undefined when the text is not one. */
export function normalizeFingerprint(text: string): string | undefined {
  // `openssl x509 -fingerprint` prints `sha256 Fingerprint=AB:CD:...`: keep what follows the `=`.
  const hex = text
    .trim()
    .replace(/^[^=]*=/, '')
    .replace(/:/g, '')
    .toUpperCase();
  if (!HEX_64.test(hex)) return undefined;
  return hex.match(/../g)?.join(':');
}
