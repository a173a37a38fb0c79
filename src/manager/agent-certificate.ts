/**
 * Trust on first use for https agents: the certificate an agent presents when it is added, read
 * from a bare TLS handshake (nothing is sent over it, the token least of all). The fingerprint is
 * then pinned, and every later connection must present the same certificate.
 */
import { isIP } from 'node:net';
import tls from 'node:tls';
import { normalizeFingerprint } from '../core/cert-fingerprint.ts';

/** The SHA-256 fingerprint (canonical form) of the certificate served at an https URL. */
export function readCertificateFingerprint(url: URL, timeoutMs: number): Promise<string> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise<string>((resolve, reject) => {
    const socket = tls.connect({
      host,
      port: url.port === '' ? 443 : Number(url.port),
      // Self-signed agent certificates are the norm; what is seen here is pinned, not trusted.
      rejectUnauthorized: false,
      ...(isIP(host) === 0 ? { servername: host } : {}),
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)));
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const seen = normalizeFingerprint(String(socket.getPeerCertificate().fingerprint256 ?? ''));
      socket.destroy();
      if (seen === undefined) reject(new Error('the agent presented no certificate'));
      else resolve(seen);
    });
  });
}
