"""Presidio, offline, as the benchmark's anchor (see shared notes: presidio-offline.md).

Nothing is downloaded: a blank English spaCy pipeline (with a lookup lemmatizer from the
spacy-lookups-data package, so Presidio's context words still work) is saved to a local folder and
handed to Presidio as a *path*; tldextract uses its bundled public suffix list.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

# Presidio's names for the types both detectors cover, and ours.
SHARED = {
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_BANK_NUMBER": "US_BANK_NUMBER",
    "ABA_ROUTING_NUMBER": "US_BANK_ROUTING",
    "CRYPTO": "CRYPTO",
}

Scored = list[tuple[str, int, int, float]]


def available() -> bool:
    try:
        import presidio_analyzer  # noqa: F401
        import spacy  # noqa: F401
    except ImportError:
        return False
    return True


def _blank_model(folder: Path) -> Path:
    import spacy

    path = folder / "blank-en"
    if not (path / "meta.json").exists():
        nlp = spacy.blank("en")
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()  # lookup tables come from the installed spacy-lookups-data
        nlp.to_disk(path)
    return path


def build(cache: Path | None = None) -> Callable[[str], Scored]:
    """A function from text to Presidio's findings (our type names, with scores)."""
    import tldextract

    # Before Presidio is imported: its email recognizer calls tldextract.extract, whose default
    # extractor would try to fetch the public suffix list first.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())

    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    folder = cache or Path(tempfile.gettempdir()) / "llmops-presidio"
    folder.mkdir(parents=True, exist_ok=True)
    model = _blank_model(folder)
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": str(model)}])
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    analyzer = AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])
    entities = list(SHARED)

    def predict(text: str) -> Scored:
        results = analyzer.analyze(text=text, language="en", entities=entities)
        return [(SHARED[r.entity_type], r.start, r.end, float(r.score)) for r in results]

    return predict
