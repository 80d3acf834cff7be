// The encrypted, authenticated channel between nodes and between clients and nodes
// (spec/channel.md): Noise_XX_25519_ChaChaPoly_SHA256 with identity payloads. Use it through
// this file: `import * as channel from '../core/channel/index.ts'`.
export { CipherState, KEY_BYTES, NONCE_MAX, nonceBytes, nobleAead, type Aead } from './cipher.ts'
export { SymmetricState, HASH_BYTES } from './symmetric.ts'
export { HandshakeState, PROTOCOL_NAME, DH_BYTES, x25519KeyPair, type KeyPair, type ReadResult } from './handshake.ts'
export {
  CHANNEL_TAG,
  IDENTITY_TAG,
  STATIC_KEY_TAG,
  IDENTITY_VOLUMES_MAX,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  prologueOf,
  encodeOpening,
  decodeOpening,
  staticKeyDigest,
  encodeIdentity,
  decodeIdentity,
  checkIdentity,
  type Identity,
  type Intent,
} from './identity.ts'
export {
  Channel,
  ChannelHandshake,
  localIdentity,
  REKEY_INTERVAL_FRAMES,
  LENGTH_PREFIX_BYTES,
  TAG_BYTES,
  type LocalIdentity,
  type HandshakeStep,
  type HandshakeRejection,
} from './session.ts'
