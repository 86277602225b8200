/**
 * What the front's TLS accepts beyond the protocol versions (`server.tls_min_version`):
 * under TLS 1.2, only suites with forward secrecy (ECDHE) and an AEAD cipher — Node's
 * defaults also take static-RSA key exchange (a stolen server key decrypts recorded
 * traffic), CBC with SHA-1 and DHE; TLS 1.3's suites all qualify. Renegotiation is
 * refused: TLS 1.3 has none, and under 1.2 a client-started one only costs the server
 * handshakes (Node merely limits it to 3 per 10 minutes). Every client of the API and
 * every browser of the portal since about 2014 speaks one of these suites.
 */
import { constants } from 'node:crypto';

const TLS13_SUITES = ['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256'];

const TLS12_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

/** The server's TLS options beside its versions and certificates (the listener and each reload's context). */
export const SERVER_TLS_POLICY = {
  ciphers: [...TLS13_SUITES, ...TLS12_SUITES].join(':'),
  honorCipherOrder: true,
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
} as const;
