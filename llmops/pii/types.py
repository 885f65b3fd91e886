"""Entity type names (Presidio's where Presidio has them) and the two families the checks use."""

from __future__ import annotations

from typing import Final

EMAIL_ADDRESS: Final = "EMAIL_ADDRESS"
PHONE_NUMBER: Final = "PHONE_NUMBER"
CREDIT_CARD: Final = "CREDIT_CARD"
IBAN_CODE: Final = "IBAN_CODE"
US_SSN: Final = "US_SSN"
IP_ADDRESS: Final = "IP_ADDRESS"
US_BANK_ROUTING: Final = "US_BANK_ROUTING"
US_BANK_NUMBER: Final = "US_BANK_NUMBER"
SWIFT_CODE: Final = "SWIFT_CODE"
CARD_CVV: Final = "CARD_CVV"
CARD_PIN: Final = "CARD_PIN"
CRYPTO: Final = "CRYPTO"
SECRET: Final = "SECRET"
ACCOUNT_BALANCE: Final = "ACCOUNT_BALANCE"

# Identifiers of a person, their accounts or their credentials: what `no_pii` forbids.
PII_TYPES: frozenset[str] = frozenset(
    {
        EMAIL_ADDRESS,
        PHONE_NUMBER,
        CREDIT_CARD,
        IBAN_CODE,
        US_SSN,
        IP_ADDRESS,
        US_BANK_ROUTING,
        US_BANK_NUMBER,
        CRYPTO,
        SECRET,
        CARD_CVV,
        CARD_PIN,
    }
)

# What `no_financial_details` forbids: payment instruments, the codes that unlock them, where the
# money sits, and how much of it there is. A wallet address is where money sits, too.
FINANCIAL_TYPES: frozenset[str] = frozenset(
    {
        CREDIT_CARD,
        IBAN_CODE,
        US_BANK_NUMBER,
        US_BANK_ROUTING,
        SWIFT_CODE,
        CARD_CVV,
        CARD_PIN,
        ACCOUNT_BALANCE,
        CRYPTO,
    }
)

ALL_TYPES: frozenset[str] = PII_TYPES | FINANCIAL_TYPES
