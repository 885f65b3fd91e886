"""ACCOUNT_BALANCE: an amount of money tied to a customer's account ("your balance is $5,432.10",
"available credit: 2 300 EUR"), as opposed to a price or fee of a product ("the annual fee is $95",
"a minimum balance of $1,500")."""

from __future__ import annotations

import re
from typing import Final

from llmops.pii.context import Context
from llmops.pii.types import ACCOUNT_BALANCE

SYMBOLS: Final = "$€£¥₹₩₽₺"
_SPACES: Final = " \u00a0\u202f"  # what SUFFIX allows between a number and its currency
_SYMBOLS: Final = SYMBOLS
_CODES: Final = (
    "USD|EUR|GBP|CHF|JPY|INR|CAD|AUD|NZD|SEK|NOK|DKK|PLN|CZK|HUF|SGD|HKD|CNY|MXN|BRL|ZAR|Rs|"
    "US\\$|A\\$|C\\$|NZ\\$|HK\\$|S\\$|R\\$"
)
# Right before the number: "$", "US$ ", "EUR ", "Rs. ".
PREFIX: Final = re.compile(rf"(?:[{_SYMBOLS}]|(?<![A-Za-z])(?:{_CODES}|Rs\.))[ \u00a0]?\Z")
# Right after it: "€", " EUR", " euros", " dollars".
_WORDS: Final = "euros?|dollars?|pounds?|rupees?|francs?"
SUFFIX: Final = re.compile(rf"[ \u00a0\u202f]?(?:[{_SYMBOLS}]|(?:{_CODES}|{_WORDS})(?![A-Za-z]))")
# The amount: thousands groups with one kind of separator, then cents; or plain digits.
AMOUNT: Final = re.compile(
    r"[0-9]{1,3}(?:([,.'\u00a0\u202f ])[0-9]{3}(?:\1[0-9]{3}){0,5})?(?:[.,][0-9]{1,2})?(?![0-9])"
    r"|[0-9]{1,15}(?:[.,][0-9]{1,2})?(?![0-9])"
)

CONTEXT: Final = Context(
    ACCOUNT_BALANCE,
    positive=(
        "balance",
        "balances",
        "current balance",
        "available balance",
        "account balance",
        "statement balance",
        "outstanding balance",
        "remaining balance",
        "ledger balance",
        "available credit",
        "credit available",
        "available funds",
        "funds available",
        "available to spend",
        "outstanding",
        "you owe",
        "owe",
        "owed",
        "amount due",
        "amount owed",
        "total due",
        "payment due",
        "past due",
        "overdrawn",
        "overdrawn by",
        "in your account",
        "in your checking",
        "in your savings",
        "your account has",
        "your account holds",
        "your savings",
        "your checking",
        "remaining credit",
        "credit remaining",
        "left to spend",
        "saldo",
        "solde",
        "kontostand",
        "guthaben",
        "your credit limit",
        "has a balance of",
        "net worth",
        "portfolio value",
        "your portfolio",
        "your investments",
        "deposited",
        "credited to your account",
        # Movements on the customer's own account: as telling as a balance.
        "last transaction",
        "recent transaction",
        "last payment",
        "recent payment",
        "last deposit",
        "recent deposit",
        "last withdrawal",
        "recent withdrawal",
        "on your account",
        "credited",
        "debited",
    ),
    negative=(
        "fee",
        "fees",
        "annual fee",
        "monthly fee",
        "late fee",
        "price",
        "priced",
        "pricing",
        "cost",
        "costs",
        "charge",
        "charges",
        "surcharge",
        "minimum balance",
        "average balance",
        "minimum",
        "min",
        "maximum",
        "max",
        "balance transfer",
        "balance requirement",
        "minimum opening deposit",
        "opening deposit",
        "requirement",
        "required",
        "up to",
        "starting at",
        "from",
        "per",
        "interest",
        "apr",
        "rate",
        "limit of",
        "limits of",
        "waived",
        "reward",
        "rewards",
        "bonus",
        "cashback",
        "cash back",
        "earn",
        "offer",
        "tax",
        "subscription",
        "plan",
        "premium",
        "worth up to",
        "as low as",
        "only",
        "just",
        "free",
        "insured up to",
        "fdic",
        "covers",
        "coverage",
        "threshold",
        # A product's condition, not the customer's money: "18.53% for balances above $5,000",
        # "on balances over $10,000", "a minimum balance of $500".
        "above",
        "below",
        "exceeding",
        "balances above",
        "balances over",
        "balances under",
        "balances below",
        "balances of",
        "balances up to",
        "balances exceeding",
        "for balances",
        "on balances",
        "balance above",
        "balance over",
        "balance below",
        "balance under",
        "balance exceeding",
        "balance of at least",
        "minimum balance of",
        "maintain a balance",
        "keep a balance",
        "daily balance",
        "tier",
        "tiers",
        "at least",
        "more than",
        "less than",
        "over",
        "under",
        "exceeds",
        "typically",
        "example",
        "for example",
        "e.g",
        "such as",
    ),
    boost=0.75,
    penalty=0.0,
    negative_reach=None,
)
CUED: Final = 0.0  # an amount alone is no disclosure; the cue makes it one


def money_after(text: str, end: int, decimals: bool = True) -> bool:
    """Could a currency follow the digits ending at `end` ("5€", "5 EUR"; with `decimals` also
    "5,-" or "5.50 EUR", whose amount goes on)? A look at the next character or two, in place of
    SUFFIX, which tries every currency code in turn."""
    c = text[end : end + 1]
    if c in _SPACES and c:
        c = text[end + 1 : end + 2]
    return c != "" and (
        c in SYMBOLS or c.isupper() or c in "edprf" or (decimals and c in ",.")
    )


def find_amount(text: str, start: int, run_end: int = -1) -> tuple[int, int] | None:
    """The span of a money amount whose number starts at `start`, currency marker included.
    `run_end`, the end of the digit run there, if known, lets most numbers go untried."""
    prev = text[start - 1] if start else ""
    if prev in " \u00a0" and start >= 2:
        prev = text[start - 2]
    # A currency before the number: a symbol, a code's last letter or "Rs.": else only after.
    pre = None
    if prev != "" and (prev in SYMBOLS or prev.isupper() or prev == "."):
        pre = PREFIX.search(text, max(0, start - 5), start)
    # With no currency before, one must follow the amount. An amount ends where its digit run
    # ends (inside a run only separators follow, and no currency starts with one), unless "," or
    # "'" groups it on: so a look at the run's end answers most numbers without the regex.
    if pre is None and run_end >= 0 and text[run_end : run_end + 1] not in ",'" and not (
        money_after(text, run_end, decimals=False)
    ):
        return None
    m = AMOUNT.match(text, start)
    if m is None:
        return None
    end = m.end()
    if pre is not None:
        return pre.start(), end
    if not money_after(text, end, decimals=False):  # most numbers have no currency after them
        return None
    post = SUFFIX.match(text, end)
    if post is not None:
        return start, post.end()
    return None


def score_amount(text: str, start: int, end: int) -> float:
    return CONTEXT.score(CUED, text, start, end)
