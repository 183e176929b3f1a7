"""KEK holders behind the `KeyManager` protocol: local keyring file and PKCS#11 HSM."""

from idproof.crypto.kms.base import KekVersionInfo, KeyManager, WrappedKey
from idproof.crypto.kms.local import LocalKeyManager
from idproof.crypto.kms.pkcs11 import Pkcs11KeyManager

__all__ = ["KekVersionInfo", "KeyManager", "LocalKeyManager", "Pkcs11KeyManager", "WrappedKey"]
