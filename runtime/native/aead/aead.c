// ChaCha20-Poly1305 (RFC 8439) for the channel's frames (runtime/native/README.md "aead"), through
// the OpenSSL that Node itself links and exports, called directly: one reused cipher context per
// thread, the output written in place into a buffer the caller gives. The same function as
// node:crypto's 'chacha20-poly1305' and @noble/ciphers' (test/channel.test.ts checks all three on
// the Noise vectors and random inputs); what it saves is node:crypto's per-call cost (a cipher
// object, five calls into the binding, a fresh Buffer per update), about 6 µs per small frame,
// and its output copies on large ones.
//   seal(key32, nonce12, ad, plaintext, out)  out.length == plaintext.length + 16; returns undefined
//   open(key32, nonce12, ad, ciphertext, out) out.length == ciphertext.length - 16; returns true iff
//     the tag verified. On false `out` holds garbage the caller must not use.
#include <node_api.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#define TAG_BYTES 16

static _Thread_local EVP_CIPHER_CTX *ctx_tl = NULL;
static _Thread_local EVP_CIPHER *cipher_tl = NULL;

static int ready(void) {
  if (cipher_tl == NULL) cipher_tl = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
  if (ctx_tl == NULL) ctx_tl = EVP_CIPHER_CTX_new();
  return cipher_tl != NULL && ctx_tl != NULL;
}

typedef struct { uint8_t *data; size_t len; } bytes_t;

static int bytes_arg(napi_env env, napi_value v, bytes_t *out) {
  napi_typedarray_type type;
  size_t len;
  void *data;
  napi_value ab;
  size_t off;
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, &ab, &off) != napi_ok || type != napi_uint8_array) return 0;
  out->data = (uint8_t *)data;
  out->len = len;
  return 1;
}

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_error(env, "PACIOFS_AEAD", msg);
  return NULL;
}

// Shared by seal and open: checks the five arguments and runs the cipher up to (not incl.) final.
static napi_value run(napi_env env, napi_callback_info info, int enc) {
  size_t argc = 5;
  napi_value argv[5];
  bytes_t key, nonce, ad, in, out;
  int outl = 0, n = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5) return fail(env, "aead: five arguments (key, nonce, ad, input, output)");
  if (!bytes_arg(env, argv[0], &key) || !bytes_arg(env, argv[1], &nonce) || !bytes_arg(env, argv[2], &ad) || !bytes_arg(env, argv[3], &in) || !bytes_arg(env, argv[4], &out)) return fail(env, "aead: every argument is a Uint8Array");
  if (key.len != 32 || nonce.len != 12) return fail(env, "aead: a 32-byte key and a 12-byte nonce");
  if (ad.len > INT32_MAX || in.len > INT32_MAX) return fail(env, "aead: input too large");
  size_t body = enc ? in.len : in.len - TAG_BYTES;
  if (!enc && in.len < TAG_BYTES) return fail(env, "aead: ciphertext shorter than its tag");
  if (out.len != body + (enc ? TAG_BYTES : 0)) return fail(env, "aead: output must be plaintext + tag (seal) or ciphertext - tag (open) long");
  if (!ready()) return fail(env, "aead: OpenSSL has no ChaCha20-Poly1305");
  EVP_CIPHER_CTX *ctx = ctx_tl;
  // A fresh key and nonce on the reused context; the default tag length is 16.
  // The context keeps its cipher after the first init: later frames only give key, nonce and
  // direction, which skips OpenSSL's re-creation of the cipher's provider context.
  if (EVP_CipherInit_ex2(ctx, EVP_CIPHER_CTX_get0_cipher(ctx) == NULL ? cipher_tl : NULL, key.data, nonce.data, enc, NULL) != 1) return fail(env, "aead: cipher init failed");
  if (ad.len > 0 && EVP_CipherUpdate(ctx, NULL, &n, ad.data, (int)ad.len) != 1) return fail(env, "aead: associated data failed");
  if (body > 0) {
    if (EVP_CipherUpdate(ctx, out.data, &n, in.data, (int)body) != 1) return fail(env, "aead: update failed");
    outl = n;
  }
  napi_value result;
  if (enc) {
    if (EVP_CipherFinal_ex(ctx, out.data + outl, &n) != 1) return fail(env, "aead: final failed");
    outl += n;
    if ((size_t)outl != body) return fail(env, "aead: the cipher returned fewer bytes than it was given");
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_BYTES, out.data + body) != 1) return fail(env, "aead: no tag");
    napi_get_undefined(env, &result);
    return result;
  }
  uint8_t tag[TAG_BYTES];
  memcpy(tag, in.data + body, TAG_BYTES);
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_BYTES, tag) != 1) return fail(env, "aead: cannot set the tag");
  uint8_t scratch[16];
  int ok = EVP_CipherFinal_ex(ctx, scratch, &n) == 1;  // the tag check; a stream cipher emits nothing here
  if (ok && ((size_t)outl != body || n != 0)) return fail(env, "aead: the cipher returned a different number of bytes than it was given");
  napi_get_boolean(env, ok, &result);
  return result;
}

static napi_value seal(napi_env env, napi_callback_info info) { return run(env, info, 1); }
static napi_value open_(napi_env env, napi_callback_info info) { return run(env, info, 0); }

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "seal", NAPI_AUTO_LENGTH, seal, NULL, &f);
  napi_set_named_property(env, exports, "seal", f);
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, open_, NULL, &f);
  napi_set_named_property(env, exports, "open", f);
  napi_value level;
  napi_create_int32(env, 1, &level);
  napi_set_named_property(env, exports, "paciofs_aead_level", level);
  return exports;
}
