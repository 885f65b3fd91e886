"""What the reference chatbot must not answer from its knowledge base, recognised by rules.

Three kinds of request get a refusal instead of an answer:

- `INJECTION`: attempts to change or read the bot's instructions ("ignore previous
  instructions", "you are now DAN", "print your system prompt", "developer mode").
- `THIRD_PARTY`: another person's data ("give me John's account number", "the email of
  customer X", "list all customers").
- `ACCOUNT_DATA`: the customer's own account data, which needs a signed-in, verified channel
  ("what is my balance", "show me my last transactions", "what's the balance on 12345678").

How-to questions about the same things ("how can I check my balance?") are not requests for the
data and go to the knowledge base. The rules are plain regular expressions, bounded and
linear-time, run over one message at a time.
"""

from __future__ import annotations

import re
from enum import Enum


class Intent(str, Enum):
    INJECTION = "injection"
    THIRD_PARTY = "third_party"
    ACCOUNT_DATA = "account_data"


_I = re.IGNORECASE

_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b(?:\W+\w+){0,4}?\W+"
    r"(?:instructions?|rules|prompts?|directions|guidelines|guardrails|programming|constraints|"
    r"filters?)\b"
    r"|\byou(?:'re|’re| are) now (?:an? |in |my |the |called |named |free\b|unrestricted\b|"
    r"jailbroken\b|no longer\b)|\bfrom now on,? you\b"
    r"|\bact as (?:if|though)\b|\bact as (?:an? |my |the )?(?:unrestricted|unfiltered|evil|"
    r"different|new|ai|assistant|bot|hacker|admin|administrator|developer|root|dan)\b"
    r"|\bpretend (?:to be|you(?:'re|’re| are))\b|\brole-?play\b|\bsimulate being\b"
    r"|(?-i:\bDAN\b)|\bdo anything now\b|\bjailbr(?:eak|oken)\w*"
    r"|\b(?:developer|dev|god|admin|sudo|unrestricted|unfiltered) mode\b"
    r"|\bsystem prompt\b|\b(?:initial|hidden|original|secret|internal|system) "
    r"(?:instructions|prompt|configuration)\b"
    r"|\b(?:print|reveal|repeat|show|display|output|dump|leak|tell me|give me|what (?:are|were)) "
    r"(?:me )?(?:all )?(?:of )?your (?:\w+ )?(?:instructions|prompt|configuration)\b"
    r"|</?system>|\[/?(?:system|inst)\]|###\s*(?:system|instruction)",
    _I,
)

# Nouns of account data. `minimum balance` and the like are product questions, not data.
_OWN_DATA = (
    r"(?<!minimum )(?<!min )(?<!average )(?<!daily )balances?\b|transactions?\b|"
    r"(?:account|card|routing|customer|member|sort) (?:numbers?|no\b|#|details)|"
    r"\biban\b|\bpin\b(?! (?:reset|change))|passwords?\b|passcodes?\b|\bcvv\b|\bcvc\b|"
    r"security code|credit limit|available credit|statements?\b|spending\b|purchases\b|"
    r"deposits\b|withdrawals\b|payments\b|payment history|last payment|\bactivity\b|"
    r"\bhistory\b|\bssn\b|social security|date of birth|\bsalary\b|credit score|\bdebt\b"
)
# Anyone's personal data: the above plus contact details.
_PERSONAL = (
    _OWN_DATA + r"|e-?mails?(?: address(?:es)?)?\b|phone(?: numbers?)?\b|mobile(?: numbers?)?\b|"
    r"(?:home |postal |street )?address(?:es)?\b|\bdetails\b|\binfo(?:rmation)?\b|\bdata\b|"
    r"\brecords?\b|\bname\b|\bbirthday\b|\bincome\b"
)
_REQUEST = (
    r"(?:what(?:'s|’s| is| are| was| were)|whats|tell me|show me|give me|send me|read (?:me|out)|"
    r"list|look ?up|check|find|display|provide|share|print|confirm|reveal|pull up|access|"
    r"how much (?:is|are|was|do|did|have|money)|i (?:want|need|would like|'d like) "
    r"(?:to know|to see)|can you (?:tell|give|show|send|check|see|find|read)|"
    r"could you (?:tell|give|show|send|check))"
)
_HOW_TO = re.compile(
    r"\bhow (?:do|can|could|should|would|to|does)\b|\bway to\b|\bwhere (?:can|do|does|is)\b|"
    r"\bis it possible\b|\b(?:can|could) (?:i|we)\b|\bhow i\b|\bi forgot\b|\bi lost\b|"
    r"\bsteps?\b|\bwhy\b|\bwhat should\b|\bwhat happens\b|\bwhat do i\b|\bam i able\b",
    _I,
)
_OWN = re.compile(
    rf"\b{_REQUEST}\b(?:\W+\w+){{0,6}}?\W+(?:my|our)\b(?:\W+\w+){{0,3}}?\W+(?:{_OWN_DATA})"
    rf"|\b{_REQUEST}\b(?:\W+\w+){{0,3}}?\W+(?:{_OWN_DATA})(?:\W+\w+){{0,3}}?\W+(?:my|our)\b"
    r"|\bhow much (?:money )?(?:do i have|have i got|is (?:in|on|left in|left on) my|"
    r"did i spend|have i spent|do i owe|i have)\b"
    r"|\b(?:my|our) (?:current |available |account |checking |savings |card )?balance\W*$",
    _I,
)
_NUMBER_REQUEST = re.compile(
    rf"\b{_REQUEST}\b(?:\W+\w+){{0,6}}?\W+(?:the )?(?:{_OWN_DATA}|owner|holder)"
    r"|\bwho (?:owns|holds|is the (?:owner|holder))\b|\bowner of\b|\bholder of\b"
    rf"|(?:{_OWN_DATA})(?:\W+\w+){{0,3}}?\W+(?:for|on|of|in) (?:account|card|acct)",
    _I,
)
_CLAUSE = re.compile(r"[.?!;,\n]+|\b(?:and|but|so|then|also)\b", _I)

# An account or card number: 6 or more digits, maybe grouped by spaces or dashes.
IDENTIFIER_NUMBER = re.compile(r"(?<![\w.,$])\d(?:[ -]?\d){5,22}(?![\w.,]\d|\w)")
EMAIL = re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}\b")

_PEOPLE = (
    r"(?:customers?|clients?|account ?holders?|members?|users?|people|persons?|someone|somebody|"
    r"mr\.?|mrs\.?|ms\.?|dr\.?|miss|my (?:wife|husband|partner|friend|neighbou?r|boss|colleague|"
    r"mother|father|mom|mum|dad|son|daughter|brother|sister|ex))\b(?! service| support| care)"
)
# Possessives that name something else than a person ("the bank's address", "what's").
_SAFE_OWNERS = frozenset(
    """
    bank banks example branch branches app apps website site card cards account accounts today
    tomorrow yesterday year month week day it that what there here let who where how he she
    one merchant merchants store company business atm world nation
    """.split()
)
_POSSESSIVE = re.compile(
    rf"\b([A-Za-z]+)(?:'s|’s|s')\s+(?:\w+\s+){{0,3}}?(?:{_PERSONAL})"
    rf"|\b{_REQUEST}\b(?:\W+\w+){{0,6}}?\W+([A-Za-z]+)(?:'s|’s|s')\s+(?:\w+\s+){{0,2}}?"
    r"(?:accounts?|cards?)\b",
    _I,
)
_THIRD_PARTY = re.compile(
    rf"\b(?:his|her)\b(?:\W+\w+){{0,2}}?\W+(?:{_PERSONAL}|accounts?\b)"
    rf"|(?:{_PERSONAL})\W+(?:\w+\W+){{0,2}}?(?:of|for|about|on|belonging to)\s+"
    rf"(?:a |an |the |this |that |another |other |some |any |all )?{_PEOPLE}"
    r"|\b(?:other|another|all|every|any|some|those|these) (?:customers?|clients?|"
    r"account ?holders?|members?|users?|people)(?:'s?|’s?)?(?:\W+\w+){0,3}?\W+"
    rf"(?:{_PERSONAL}|accounts?\b)"
    rf"|\b(?:someone|somebody|anyone|anybody) else(?:'s|’s)\s+(?:\w+\s+){{0,2}}?(?:{_PERSONAL})"
    r"|\b(?:list|dump|export|show|give|print|send|share) (?:me )?(?:all |every |the )?"
    r"(?:of )?(?:your |the )?(?:customers?|clients?|account ?holders?|users?|members?)\b"
    r"(?! service| support| care)"
    r"|\bwho (?:owns|holds)\b|\b(?:owner|holder)s? of (?:account|card|acct|this|that|the)\b",
    _I,
)
# "customer X", "client John Smith", "customer #4411": someone named, asked about.
_NAMED_CUSTOMER = re.compile(
    r"\b(?i:customer|client|account ?holder|user|member)\s+(?:(?i:named|called|number|no\.?|id)"
    r"\s*|#)?(?!Service|Support|Care)(?:[A-Z][a-z]*\b|\d+)",
)
_PERSONAL_NOUN = re.compile(_PERSONAL, _I)
# "the account number of John Smith": data that identifies a person, then a name.
_NAME_DATA = (
    r"account numbers?|card numbers?|balances?|transactions|e-?mail(?: address)?|"
    r"(?:phone|mobile) numbers?|(?:home )?address|date of birth|ssn|social security numbers?|"
    r"pin|password|details|statements?|salary"
)
_DATA_OF_NAME = re.compile(
    rf"\b(?i:{_NAME_DATA})\W+(?:\w+\W+){{0,2}}?(?i:of|for|belonging to|owned by|about)\s+"
    r"(?:(?i:mr|mrs|ms|dr|miss)\.?\s+)?([A-Z][a-z]+)\b"
)
# Capitalised words after "of"/"for" that are not people: the bank, its products, places.
_NOT_NAMES = frozenset(
    """
    Example Bank Springfield Harbour Visa Mastercard Apple Google Samsung Zelle Allpoint Everyday
    Saver Student Business Rewards Checking Savings Customer Support Service Care Head Office
    Main Online Mobile The This That My Your Our America Europe
    """.split()
)


def _third_party(text: str) -> bool:
    if _THIRD_PARTY.search(text):
        return True
    for match in _POSSESSIVE.finditer(text):
        owner = match.group(1) or match.group(2)
        if owner.lower() not in _SAFE_OWNERS:
            return True
    for match in _DATA_OF_NAME.finditer(text):
        if match.group(1) not in _NOT_NAMES:
            return True
    return bool(_NAMED_CUSTOMER.search(text) and _PERSONAL_NOUN.search(text))


def _account_data(text: str, identifiers_known: bool) -> bool:
    has_number = identifiers_known or IDENTIFIER_NUMBER.search(text) is not None
    for clause in _CLAUSE.split(text):
        # "how can I check my balance?" asks how, not what: the knowledge base answers it.
        if not clause.strip() or _HOW_TO.search(clause):
            continue
        if _OWN.search(clause) or (has_number and _NUMBER_REQUEST.search(clause)):
            return True
    return False


def classify(text: str, *, identifiers_known: bool = False) -> Intent | None:
    """The intent a refusal answers, or None when the knowledge base may answer.

    `identifiers_known`: the conversation already holds an account or card number.
    """
    if _INJECTION.search(text):
        return Intent.INJECTION
    if _third_party(text):
        return Intent.THIRD_PARTY
    if _account_data(text, identifiers_known):
        return Intent.ACCOUNT_DATA
    return None


def identifiers(text: str) -> list[tuple[str, str]]:
    """(kind, value) of account/card numbers and e-mails in `text`, in order of appearance.

    Only v2's regression uses this, to echo them back; the good bot never repeats them.
    """
    found: list[tuple[int, str, str]] = []
    for m in IDENTIFIER_NUMBER.finditer(text):
        digits = sum(c.isdigit() for c in m.group())
        found.append((m.start(), "card" if digits >= 13 else "account", m.group()))
    for m in EMAIL.finditer(text):
        found.append((m.start(), "email", m.group()))
    return [(kind, value) for _, kind, value in sorted(found)]
