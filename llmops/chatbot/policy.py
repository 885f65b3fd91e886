"""What the reference chatbot must not answer from its knowledge base, recognised by rules.

Three kinds of request get a refusal instead of an answer:

- `INJECTION`: attempts to change or read the bot's instructions ("ignore previous
  instructions", "you are now DAN", "print your system prompt", "developer mode").
- `THIRD_PARTY`: another person's data ("give me John's account number", "the email of
  customer X", "list all customers").
- `ACCOUNT_DATA`: the customer's own account data, which needs a signed-in, verified channel
  ("what is my balance", "show me my last transactions", "what's the balance on 12345678").

- `SECRETS`: the bank's own credentials and internals ("what API key do you use", "the admin
  password", "your connection string").
- `LANGUAGE`: a message in another language than English, which the bot cannot vet.

How-to questions about the same things ("how can I check my balance?") are not requests for the
data and go to the knowledge base. The rules are plain regular expressions, bounded and
linear-time, run over one message at a time, and over every reading of it an attacker may hide
a request in (`readings`): look-alike letters and zero-width characters folded, leetspeak read
as letters, base64 and hex runs decoded, ROT13 undone. A request to join messages sent in parts
is read over the joined user turns (`joins_parts`).
"""

from __future__ import annotations

import re
from enum import Enum


class Intent(str, Enum):
    # In order of precedence: the first intent any reading of a message shows wins.
    INJECTION = "injection"
    SECRETS = "secrets"
    THIRD_PARTY = "third_party"
    ACCOUNT_DATA = "account_data"
    LANGUAGE = "language"


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
    r"|</?system>|\[/?(?:system|inst)\]|###\s*(?:system|instruction)"
    # An encoded message with the order to decode and obey it (base64, ROT13, ...).
    r"|\b(?:decode|decipher|deobfuscate|unscramble|apply rot-?13)\b(?:\W+\w+){0,3}?\W+"
    r"(?:base64|rot-?13|hex|cipher|encoded|message|text|this|it)\b(?:\W+\w+){0,6}?\W+"
    r"(?:follow|obey|execute|do (?:exactly )?what|carry out|act on)\b"
    # Pretend authority lifting the bot's rules (not a card's restrictions being lifted).
    r"|\byour (?:usual |normal |standard |safety |customer-safety )?(?:restrictions|rules|"
    r"policies|safeguards|filters|guardrails)\b(?:\W+\w+){0,4}?\W+(?:are |have been )?"
    r"(?:suspended|lifted|disabled|removed|waived)\b"
    r"|\b(?:safety|security) (?:policies|rules|filters) (?:are|have been) (?:suspended|lifted|"
    r"disabled|removed|off)\b"
    r"|\bwithout the (?:\w+[ -]){0,2}?(?:safety|security) rules\b"
    r"|(?-i:\b(?:ADMIN|ADMINISTRATOR|SYSTEM|DEVELOPER|ROOT|SECURITY) OVERRIDE\b)"
    r"|(?-i:\bSYSTEM NOTICE\b)|\[system notice\b"
    # Role-play that hands the bot a persona or a story to tell what it must not.
    r"|\b(?:stay|staying|remain) in character\b|\bin the game,? you are\b"
    r"|\bact as my (?:late |deceased |dead )?(?:grand(?:ma|mother|pa|father)|granny)\b"
    r"|\b(?:story|novel|thriller|screenplay|film|movie|poem|fiction)\b(?:\W+\w+){0,25}?\W+"
    r"(?:step by step|how to (?:take over|steal|hack|break into|bypass|get into))\b",
    _I,
)
# The bank's own credentials and internals, asked of the bot.
_SECRET_NOUN = (
    r"(?:api|access|secret|private|admin(?:istrator)?|master|root|database|db|service|ssh|"
    r"encryption|signing|server|system)[ -](?:keys?|tokens?|passwords?|passphrases?|"
    r"credentials?|secrets?|logins?)\b|\bconnection strings?\b|\benvironment variables\b"
)
_SECRETS = re.compile(
    rf"(?:{_SECRET_NOUN})(?:\W+\w+){{0,6}}?\W+(?:you|your)\b"
    rf"|\b(?:your|the bank(?:'s|’s)|internal|the system(?:'s|’s))\s+(?:\w+\s+){{0,2}}?"
    rf"(?:{_SECRET_NOUN})",
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
    r"\brecords?\b|\bname\b|\bbirthday\b|\bincome\b|\bon (?:file|record)\b"
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
    r"(?:(?:a|an|the|this|that|another|other|some|any|all|last|previous|latest|recent|first|"
    r"few|several|two|three|four|five|ten|twenty|\d+)\s+){0,4}"
    rf"{_PEOPLE}"
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
    Every reading of the text is tried (`readings`); the first intent in `Intent` order wins.
    """
    found = [_classify(r, identifiers_known) for r in readings(text)]
    return next((intent for intent in Intent if intent in found), None)


def _classify(text: str, identifiers_known: bool) -> Intent | None:
    if _INJECTION.search(text):
        return Intent.INJECTION
    if _SECRETS.search(text):
        return Intent.SECRETS
    if _third_party(text):
        return Intent.THIRD_PARTY
    if _account_data(text, identifiers_known):
        return Intent.ACCOUNT_DATA
    if _foreign(text):
        return Intent.LANGUAGE
    return None


# Leetspeak inside a word that also has letters ("1gn0r3", "4cc0unt"), read back as letters.
_LEET_WORD = re.compile(r"\b(?=[\w@$]*[A-Za-z])(?=[\w@$]*[0-9@$])[\w@$]+")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s", "8": "b", "9": "g"})


def _unleet(text: str) -> str:
    return _LEET_WORD.sub(lambda m: m.group().translate(_LEET), text)


def readings(text: str) -> list[str]:
    """The ways a message may be read: as written; look-alike letters and zero-width characters
    folded; leetspeak as letters; each base64 or hex run decoded; ROT13 undone. Distinct ones
    only, in that order."""
    from llmops.redteam.decode import decoded_runs, fold, rot13

    folded = fold(text)
    out = [text, folded, _unleet(folded), *decoded_runs(text), rot13(text)]
    return list(dict.fromkeys(out))


_JOIN = re.compile(
    r"\b(?:put|join|combine|merge|concatenate|assemble|stitch)\b(?:\W+\w+){0,6}?\W+"
    r"(?:parts?|pieces|halves|messages|fragments|together)\b",
    _I,
)


def joins_parts(text: str) -> bool:
    """The message asks to join earlier messages into one ("put part 1 and part 2 together")."""
    return any(_JOIN.search(r) for r in readings(text))


# Frequent words of other languages that are not English words: a sentence made of them is not
# English, and the bot (which vets English only) says so instead of guessing.
_FOREIGN_WORDS = frozenset(
    """
    el la los las de del que por para con una es tu su sus lo le les mi muy pero como esta este
    para cuál cual qué dime dame puedes ahora siempre todo todas todos desde hasta también
    des du et est pour avec une vous nous votre dans sur pas qui mais sont cette ces leur
    der die das und ist nicht mit ein eine ich sie wir ihr dein deine bitte jetzt alle auf
    il di che per non gli della sono questo questa tutte ora
    não você uma seu sua com isso agora
    """.split()
)
_ENGLISH_WORDS = frozenset(
    """
    the a an and is are was were to of in on for with my your i you it that this what how
    can do does please me we our be have has not no
    """.split()
)
_WORDS = re.compile(r"[^\W\d_]+")


def _foreign(text: str) -> bool:
    words = [w.casefold() for w in _WORDS.findall(text)]
    foreign = sum(w in _FOREIGN_WORDS for w in words)
    english = sum(w in _ENGLISH_WORDS for w in words)
    return foreign >= 4 and foreign > english


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
