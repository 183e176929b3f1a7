"""The hosted pages' messages (English source, gettext catalogues per language) and negotiation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from idproof.verification.schemas import SUPPORTED_LOCALES

LOCALES = SUPPORTED_LOCALES
DEFAULT_LOCALE = "en"
# Translators' files: locales/<lang>/LC_MESSAGES/hosted.po, read at start-up (no compile step).
# `tools/hosted_i18n.py` writes the template (hosted.pot) from SOURCE and merges it into them.
DOMAIN = "hosted"
LOCALE_DIR = Path(__file__).resolve().parent / "locales"
# Bump when the consent text changes: each consent record names the version it accepted.
CONSENT_VERSION = "2026-11-1"

SOURCE: dict[str, str] = {
    "title": "Identity verification",
    "skip": "Skip to content",
    "step_of": "Step {n} of {total}",
    "consent.heading": "Before we start",
    "consent.text": (
        "To verify your identity we will take photos of your identity document and, if asked, of "
        "your face. We use them only to check that the document is genuine and belongs to you. The "
        "images are encrypted and deleted once the check is done; the result is shared with the "
        "service that sent you here."),
    "consent.checkbox": (
        "I agree to the processing of my identity document and images for this check."),
    "consent.submit": "Agree and continue",
    "consent.decline": "Cancel",
    "consent.required": "Please tick the box to agree, or cancel.",
    "document.heading": "Your identity document",
    "document.type": "Document type",
    "document.country": "Issuing country",
    "document.any_country": "Other / not listed",
    "document.choose_country": "Choose the issuing country",
    "document.front": "Front of the document",
    "document.back": "Back of the document",
    "document.back_hint": "Needed for identity cards, driving licences and residence permits.",
    "document.file_hint": "A photo (JPEG, PNG, WebP or HEIC), at most 10 MB.",
    "document.submit": "Send",
    "doc.passport": "Passport",
    "doc.id_card": "Identity card",
    "doc.driving_licence": "Driving licence",
    "doc.residence_permit": "Residence permit",
    "doc.visa": "Visa",
    "camera.start": "Use the camera",
    "camera.take": "Take photo",
    "camera.retake": "Retake",
    "camera.taken": "Photo taken.",
    "camera.unavailable": "The camera is not available: choose a file instead.",
    "camera.guide": "Place the document inside the frame, flat and well lit.",
    "camera.face_guide": "Place your face inside the oval and look at the camera.",
    "selfie.heading": "A photo of your face",
    "selfie.hint": "Remove glasses and hats, face the light.",
    "selfie.file": "Photo of your face",
    "selfie.submit": "Send",
    "contact.email.heading": "Your e-mail address",
    "contact.email.label": "E-mail address",
    "contact.email.hint": "We send a 6-digit code to this address.",
    "contact.phone.heading": "Your mobile phone number",
    "contact.phone.label": "Mobile number",
    "contact.phone.hint": (
        "With + and the country code, for example +49 151 23456789. We send a 6-digit code by"
        " text message."),
    "contact.send": "Send code",
    "contact.sent.email": (
        "We sent a code to your e-mail address. It is valid for {minutes} minutes."),
    "contact.sent.phone": (
        "We sent a code by text message to your phone. It is valid for {minutes} minutes."),
    "contact.code": "6-digit code",
    "contact.confirm": "Confirm",
    "contact.resend": "Send a new code",
    "contact.resend_wait": "You can ask for a new code in {seconds} seconds.",
    "contact.change.email": "Use a different e-mail address",
    "contact.change.phone": "Use a different phone number",
    "contact.invalid_email": "This is not a valid e-mail address.",
    "contact.invalid_phone": (
        "This is not a valid phone number. Enter it with + and the country code."),
    "contact.not_mobile": "This number cannot receive text messages: enter a mobile number.",
    "contact.too_soon": (
        "A code was sent moments ago. Please wait {seconds} seconds before asking for "
        "another."),
    "contact.send_limit": (
        "Too many codes were sent for this check. Please contact the service that sent you "
        "here."),
    "contact.wrong": "This code is not right. Attempts left: {n}.",
    "contact.expired": "This code can no longer be used. Ask for a new code.",
    "contact.not_sent": "No code was sent yet.",
    "contact.unavailable": (
        "The code could not be sent right now. Please try again in a few minutes."),
    "questionnaire.heading": "A few questions",
    "questionnaire.optional": "(optional)",
    "questionnaire.legal_version": "Version {version}",
    "questionnaire.submit": "Continue",
    "questionnaire.invalid": "Please check the answers marked below.",
    "questionnaire.problem": "Please check this answer.",
    "liveness.heading": "A short video check",
    "liveness.intro": "Follow the instructions on the screen. It takes a few seconds.",
    "liveness.start": "Start",
    "liveness.sending": "Sending...",
    "liveness.needs_js": "This step needs JavaScript and a camera.",
    "action.blink": "Blink",
    "action.turn_left": "Turn your head to the left",
    "action.turn_right": "Turn your head to the right",
    "action.smile": "Smile",
    "action.nod": "Nod",
    "action.look_up": "Look up",
    "action.look_straight": "Look straight at the camera",
    "waiting.heading": "Checking...",
    "waiting.text": "Please wait, this usually takes a few seconds.",
    "waiting.continue": "Continue",
    "retry.notice": "Let's try that again: {reason} (attempt {n} of {max}).",
    "done.heading": "Thank you",
    "done.text": "Your verification is complete. You can close this page.",
    "done.review": "Your verification has been received and is being reviewed.",
    "failed.heading": "We could not verify you",
    "failed.text": "Reason: {reason}. Please contact the service that sent you here to try again.",
    "continue": "Return to the service",
    "close": "Close",
    "handoff.heading": "Continue in a new window",
    "handoff.text": (
        "For your security, this verification opens in a window of its own, at the address of "
        "the verification service."),
    "handoff.open": "Open the verification",
    "handoff.waiting": "The verification is open in another window. Come back here when it "
                       "is done.",
    "ended.heading": "This verification has ended",
    "ended.text": "This link has expired or the verification was cancelled.",
    "used.heading": "This link was already used",
    "used.text": (
        "For your security a verification link works once, on one device. Go back to the service "
        "that sent you and ask for a new link."),
    "invalid.heading": "This link is not valid",
    "invalid.text": "Check that you copied the whole link, or ask for a new one.",
    "elsewhere.heading": "This verification is handled elsewhere",
    "elsewhere.text": (
        "This verification belongs to the service of another region. Go back to the service "
        "that sent you and ask for a new link."),
    "nosession.heading": "Your session has ended",
    "nosession.text": "Open the verification link again from the service that sent you.",
    "error.heading": "Something went wrong",
    "csrf.text": "The form expired. Go back and try again.",
    "cancel": "Cancel the verification",
    "cancelled.heading": "Verification cancelled",
    "cancelled.text": "Nothing more will be processed. You can close this page.",
    "cancel.confirm_heading": "Cancel the verification?",
    "cancel.confirm_text": (
        "What you have sent so far will not be used, and this link will stop working. To verify "
        "later you will need a new link."),
    "cancel.confirm_yes": "Yes, cancel",
    "cancel.confirm_no": "No, continue",
    "reason.document_unreadable": "the document could not be read (blurry, dark or cut off)",
    "reason.document_expired": "the document has expired",
    "reason.underage": "the minimum age is not met",
    "reason.mrz_checksum_failed": "the document's machine-readable zone is not valid",
    "reason.country_not_allowed": "documents from this country are not accepted",
    "reason.document_type_not_allowed": "this type of document is not accepted",
    "reason.document_not_accepted": (
        "this service does not accept this document (its type or issuing country)"),
    "reason.face_mismatch": "the face does not match the document",
    "reason.no_face": "no face was found in the photo",
    "reason.multiple_faces": "more than one face is in the photo",
    "reason.face_too_small": "the face is too small or too far",
    "reason.low_quality": "the photo is too blurry or too dark",
    "reason.liveness_failed": "the video check did not succeed",
    "reason.challenge_expired": "the video check took too long",
    "reason.presentation_attack_suspected": "the photo did not look live",
    "reason.default": "the checks did not succeed",
    "reason.front_back_mismatch": "the front and back are not of the same document",
    "reason.duplicate_document": "this document was already used for another verification",
    "reason.processing_error": "the document could not be checked",
    "reason.processing_timeout": "the checks took too long",
    "reason.challenge_replayed": "the video check was sent twice",
    "failed.intro": "What happened, and what you can do:",
    "failed.contact": "To try again, ask the service that sent you here for a new link.",
    "advice.document_unreadable": (
        "Take a new photo in good light, flat, with all four corners visible."),
    "advice.mrz_checksum_failed": (
        "Use an original, undamaged document; photograph the page with the two or three lines of "
        "code."),
    "advice.document_expired": "Use a document that is still valid.",
    "advice.underage": "This service is only for people above its minimum age.",
    "advice.country_not_allowed": "Use a document from another country, if you have one.",
    "advice.document_type_not_allowed": "Use one of the document types offered in the list.",
    "advice.document_not_accepted": (
        "Use another identity document that this service accepts, if you have one."),
    "advice.front_back_mismatch": "Photograph both sides of the same document.",
    "advice.duplicate_document": (
        "If you have already verified with this document, contact the service that sent you here."),
    "advice.processing_error": "Try again later with a new link.",
    "advice.processing_timeout": (
        "A person will look at your verification; you do not need to do anything."),
    "advice.face_mismatch": (
        "Make sure the photo is of you, the document's holder, with your face uncovered."),
    "advice.no_face": "Face the camera, in good light, with nothing covering your face.",
    "advice.multiple_faces": "Make sure only your face is in the picture.",
    "advice.face_too_small": "Hold the camera closer so that your face fills the oval.",
    "advice.low_quality": "Find more light and hold the camera still.",
    "advice.liveness_failed": "Do each movement when asked, in good light, facing the camera.",
    "advice.challenge_expired": "Start the video check and do the movements at once.",
    "advice.challenge_replayed": "Start a new video check.",
    "advice.presentation_attack_suspected": (
        "Use your own face in front of the camera, not a photo or a screen."),
    "advice.default": "Contact the service that sent you here.",
    "upload.rejected": "This file could not be used: {reason}.",
    "upload.too_large": "the file is too large",
    "upload.type": "only JPEG, PNG, WebP or HEIC photos are accepted",
    "upload.corrupt": "the image is damaged or too small",
    "upload.missing": "choose or take a photo",
    "upload.back_missing": "the back side is needed for this document",
    "upload.type_missing": "choose a document type",
    "document.front_file": "Photo of the front",
    "document.back_file": "Photo of the back",
    "selfie.file_label": "Choose or take a photo of your face",
    "handoff.phone_button": "Continue on my phone",
    "handoff.qr_heading": "Continue on your phone",
    "handoff.qr_text": (
        "Scan this code with your phone's camera. The link works once, for {minutes} "
        "minutes."),
    "handoff.qr_alt": "QR code with the link to continue on your phone",
    "handoff.qr_link": "Or open this address on your phone:",
    "handoff.qr_waiting": "Waiting for your phone...",
    "handoff.stay": "Continue on this device instead",
    "watch.heading": "Continuing on your phone",
    "watch.text": "Follow the steps on your phone. This page shows the result when you are done.",
    "watch.now": "Now: {step}",
    "watch.moved": "This verification continues on another device. Follow it there.",
    "capture.blurry": "Hold still: the image is blurry.",
    "capture.glare": "Avoid reflections: tilt the document away from the light.",
    "capture.frame": "Move so that the whole document fits inside the frame.",
    "capture.face": "Centre your face in the oval.",
    "capture.dark": "Too dark: move to a brighter place.",
    "capture.hold": "Good. Hold still...",
    "capture.preview": "Check the photo: is everything sharp, readable and inside the picture?",
    "capture.use": "Use this photo",
    "capture.preview_alt": "Preview of the photo",
    "capture.file_warning": "This photo may not pass the checks:",
    "capture.closer": "Move closer to the camera.",
    "capture.farther": "Move a little further away from the camera.",
    "capture.checking": "Checking your photo…",
    "liveness.progress": "Movement {n} of {total}",
    "liveness.action_done": "Done",
    "liveness.get_ready": "Get ready...",
    "liveness.failed_try": "That did not work. {advice}",
    "consent.business": "This verification is requested by {name}.",
    "brand.privacy": "Privacy policy of {name}",
    "brand.support": "Help: {contact}",
    "brand.logo_alt": "{name} logo",
    "withdraw.link": "Withdraw my consent",
    "withdraw.heading": "Withdraw your consent?",
    "withdraw.text": (
        "The verification stops and what you sent is deleted, except what the law "
        "requires the business to keep."),
    "withdraw.yes": "Yes, withdraw my consent",
    "withdraw.no": "No, go back",
    "withdrawn.heading": "Consent withdrawn",
    "withdrawn.text": (
        "Processing has stopped and your data is being deleted as the law allows. You can "
        "close this page."),
}


def _load(locale: str) -> dict[str, str]:
    """One language's messages from its gettext catalogue: `msgctxt` is the key, `msgid` the
    English text it translates. A translation of another English text (the source changed
    since) or a fuzzy one is left out, so the page shows the current English instead."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale, domain=DOMAIN)
    out: dict[str, str] = {}
    for message in catalog:
        key = message.context
        if (key and isinstance(message.id, str) and isinstance(message.string, str)
                and message.string and not message.fuzzy and SOURCE.get(key) == message.id):
            out[key] = message.string
    return out


CATALOG: dict[str, dict[str, str]] = {
    DEFAULT_LOCALE: SOURCE, **{loc: _load(loc) for loc in LOCALES if loc != DEFAULT_LOCALE}}


def negotiate(session_locale: str | None, accept_language: str | None) -> str:
    """The session's locale when we have it, else the browser's best match, else English."""
    if session_locale:
        lang = session_locale.split("-", 1)[0].lower()
        if lang in LOCALES:
            return lang
    best: tuple[float, int, str] | None = None
    for index, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().split("-", 1)[0].lower()
        if lang not in LOCALES:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if q <= 0:
            continue
        key = (q, -index, lang)
        if best is None or key > best:
            best = key
    return best[2] if best else DEFAULT_LOCALE


class Translator:
    """`t(key, **values)` for one locale; an unknown key falls back to English, then itself."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in CATALOG else DEFAULT_LOCALE
        self._messages = CATALOG[self.locale]

    def __call__(self, key: str, **values: object) -> str:
        text = self._messages.get(key) or SOURCE.get(key) or key
        return text.format(**values) if values else text

    def reason(self, code: str | None) -> str:
        """A plain sentence for a reason code (codes only: never personal data)."""
        key = f"reason.{code}"
        return self(key) if code and key in CATALOG[DEFAULT_LOCALE] else self("reason.default")

    def advice(self, code: str | None) -> str:
        """What the person can do about a reason code."""
        key = f"advice.{code}"
        return self(key) if code and key in CATALOG[DEFAULT_LOCALE] else self("advice.default")
