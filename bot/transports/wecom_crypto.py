"""WeCom's callback encryption (企业微信 回调和回复的加解密方案, the WXBizMsgCrypt scheme), as the AI
bot (智能机器人) uses it for its JSON callbacks and replies.

From the platform's documentation (developer.work.weixin.qq.com, 加解密方案说明 and 智能机器人 ›
回调和回复的加解密方案):

- `msg_signature` = SHA1 of the sorted concatenation of the token, `timestamp`, `nonce` and the
  encrypted text (hex, lower case);
- AESKey = Base64_Decode(EncodingAESKey + "="): 32 bytes; AES-256-CBC, the IV the key's first 16
  bytes, PKCS#7 padding to a multiple of 32 bytes;
- the plaintext is random(16 bytes) + msg_len (4 bytes, network order) + msg + ReceiveId; for an
  enterprise's own AI bot the ReceiveId is the empty string;
- a callback's body is `{"encrypt": …}`; a passive reply is `{"encrypt", "msgsignature",
  "timestamp", "nonce"}`.

The AES comes from `cryptography` (maintained; `wechatpy.work.crypto` has not been released
since 2021).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_BITS = 256  # PKCS#7 to a multiple of 32 bytes, as the scheme pads (not AES's 16)
KEY_CHARS = 43    # an EncodingAESKey is 43 characters of [a-zA-Z0-9]


class CryptoError(ValueError):
    """A callback that does not decrypt: bad signature, bad padding, wrong receive id."""


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of an EncodingAESKey (43 characters); raises CryptoError."""
    if len(encoding_aes_key) != KEY_CHARS or not encoding_aes_key.isalnum():
        raise CryptoError(f"an EncodingAESKey is {KEY_CHARS} letters and digits")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as error:
        raise CryptoError(f"EncodingAESKey is not Base64: {error}") from None
    if len(key) != 32:
        raise CryptoError("EncodingAESKey does not decode to 32 bytes")
    return key


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """`msg_signature`: SHA1 (hex) of the four strings sorted and joined."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted]))
                        .encode("utf-8")).hexdigest()


class WeComCrypto:
    """One bot's token and key. `receive_id` is "" for an enterprise's own AI bot (the scheme's
    other users put a corp id or suite id there)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str = "") -> None:
        self.token = token
        self.key = aes_key(encoding_aes_key)
        self.receive_id = receive_id.encode("utf-8")

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def signature_is_valid(self, msg_signature: str, timestamp: str, nonce: str,
                           encrypted: str) -> bool:
        # compare_digest: the time taken must not tell how much of a forged signature was right.
        return hmac.compare_digest(signature(self.token, timestamp, nonce, encrypted),
                                   (msg_signature or "").strip().lower())

    def decrypt(self, encrypted: str) -> bytes:
        """The message (`msg`) inside an encrypted text; raises CryptoError when it is not one
        of this bot's (bad Base64, padding, length, or receive id)."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("not Base64") from None
        if not raw or len(raw) % 16:
            raise CryptoError("not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(BLOCK_BITS).unpadder()
        try:
            plain = unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise CryptoError("bad padding (another key?)") from None
        if len(plain) < 20:
            raise CryptoError("too short")
        (length,) = struct.unpack(">I", plain[16:20])
        message, receive_id = plain[20:20 + length], plain[20 + length:]
        if len(message) != length:
            raise CryptoError("message length does not match")
        if receive_id != self.receive_id:
            raise CryptoError("the message is for another receiver")
        return message

    def encrypt(self, message: bytes, random16: bytes | None = None) -> str:
        """The encrypted text (Base64) of `message`, as the platform writes it."""
        random16 = os.urandom(16) if random16 is None else random16
        plain = random16 + struct.pack(">I", len(message)) + message + self.receive_id
        padder = padding.PKCS7(BLOCK_BITS).padder()
        padded = padder.update(plain) + padder.finalize()
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The answer to the URL check (验证URL有效性): the decrypted `echostr`, as text.
        Raises CryptoError for a bad signature or echostr."""
        if not self.signature_is_valid(msg_signature, timestamp, nonce, echostr):
            raise CryptoError("bad msg_signature")
        return self.decrypt(echostr).decode("utf-8")

    def open_callback(self, msg_signature: str, timestamp: str, nonce: str,
                      encrypted: str) -> bytes:
        """A callback's plaintext (the JSON message), its signature checked first."""
        if not self.signature_is_valid(msg_signature, timestamp, nonce, encrypted):
            raise CryptoError("bad msg_signature")
        return self.decrypt(encrypted)

    def sealed_reply(self, message: bytes, timestamp: str, nonce: str) -> dict[str, str]:
        """A passive reply's body (加密与被动回复): `message` encrypted and signed."""
        encrypted = self.encrypt(message)
        return {"encrypt": encrypted,
                "msgsignature": signature(self.token, timestamp, nonce, encrypted),
                "timestamp": timestamp, "nonce": nonce}

    def decrypt_media(self, data: bytes) -> bytes:
        """An image or file the AI bot's callback points to, downloaded: AES-256-CBC under the
        same key and IV, PKCS#7 to 32 bytes (智能机器人 › 接收消息: the content is encrypted)."""
        return decrypt_media(self.key, data)

    def encrypt_media(self, data: bytes) -> bytes:
        """`data` as the platform serves it (the inverse of `decrypt_media`; for the tests' fake)."""
        return encrypt_media(self.key, data)


def media_key(aeskey: str) -> bytes:
    """The 32-byte key of a medium over the long connection (its `aeskey`, Base64, its `=`
    padding perhaps left off); raises CryptoError."""
    try:
        key = base64.b64decode(aeskey + "=" * (-len(aeskey) % 4), validate=True)
    except binascii.Error as error:
        raise CryptoError(f"aeskey is not Base64: {error}") from None
    if len(key) != 32:
        raise CryptoError("aeskey does not decode to 32 bytes")
    return key


def decrypt_media(key: bytes, data: bytes) -> bytes:
    """Downloaded media content under `key` (32 bytes): AES-256-CBC, the IV the key's first 16
    bytes, PKCS#7 to 32 bytes. Raises CryptoError."""
    if not data or len(data) % 16:
        raise CryptoError("not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(BLOCK_BITS).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise CryptoError("bad padding (another key?)") from None


def encrypt_media(key: bytes, data: bytes) -> bytes:
    """`data` as the platform serves it (the inverse of `decrypt_media`; for the tests' fakes)."""
    padder = padding.PKCS7(BLOCK_BITS).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return encryptor.update(padded) + encryptor.finalize()
