"""The hosted pages' message catalog (English, French) and locale negotiation (pure)."""

from __future__ import annotations

from idproof.verification.schemas import SUPPORTED_LOCALES

LOCALES = SUPPORTED_LOCALES
DEFAULT_LOCALE = "en"
# Bump when the consent text changes: each consent record names the version it accepted.
CONSENT_VERSION = "2026-11-1"

CATALOG: dict[str, dict[str, str]] = {
    "en": {
        "title": "Identity verification",
        "skip": "Skip to content",
        "step_of": "Step {n} of {total}",
        "consent.heading": "Before we start",
        "consent.text": (
            "To verify your identity we will take photos of your identity document and, if "
            "asked, of your face. We use them only to check that the document is genuine and "
            "belongs to you. The images are encrypted and deleted once the check is done; the "
            "result is shared with the service that sent you here."),
        "consent.checkbox": "I agree to the processing of my identity document and images "
                            "for this check.",
        "consent.submit": "Agree and continue",
        "consent.decline": "Cancel",
        "consent.required": "Please tick the box to agree, or cancel.",
        "document.heading": "Your identity document",
        "document.type": "Document type",
        "document.country": "Issuing country",
        "document.any_country": "Other / not listed",
        "document.front": "Front of the document",
        "document.back": "Back of the document",
        "document.back_hint": "Needed for identity cards, driving licences and residence "
                              "permits.",
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
        "failed.text": "Reason: {reason}. Please contact the service that sent you here to "
                       "try again.",
        "continue": "Return to the service",
        "close": "Close",
        "ended.heading": "This verification has ended",
        "ended.text": "This link has expired or the verification was cancelled.",
        "used.heading": "This link was already used",
        "used.text": ("For your security a verification link works once, on one device. "
                      "Go back to the service that sent you and ask for a new link."),
        "invalid.heading": "This link is not valid",
        "invalid.text": "Check that you copied the whole link, or ask for a new one.",
        "nosession.heading": "Your session has ended",
        "nosession.text": "Open the verification link again from the service that sent you.",
        "error.heading": "Something went wrong",
        "csrf.text": "The form expired. Go back and try again.",
        "cancel": "Cancel the verification",
        "cancelled.heading": "Verification cancelled",
        "cancelled.text": "Nothing more will be processed. You can close this page.",
        "cancel.confirm_heading": "Cancel the verification?",
        "cancel.confirm_text": "What you have sent so far will not be used, and this link "
                               "will stop working. To verify later you will need a new link.",
        "cancel.confirm_yes": "Yes, cancel",
        "cancel.confirm_no": "No, continue",
        "reason.document_unreadable": "the document could not be read (blurry, dark or cut "
                                      "off)",
        "reason.document_expired": "the document has expired",
        "reason.underage": "the minimum age is not met",
        "reason.mrz_checksum_failed": "the document's machine-readable zone is not valid",
        "reason.country_not_allowed": "documents from this country are not accepted",
        "reason.document_type_not_allowed": "this type of document is not accepted",
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
        "reason.duplicate_document": "this document was already used for another "
                                     "verification",
        "reason.processing_error": "the document could not be checked",
        "reason.processing_timeout": "the checks took too long",
        "reason.challenge_replayed": "the video check was sent twice",
        "failed.intro": "What happened, and what you can do:",
        "failed.contact": "To try again, ask the service that sent you here for a new link.",
        "advice.document_unreadable": "Take a new photo in good light, flat, with all four "
                                      "corners visible.",
        "advice.mrz_checksum_failed": "Use an original, undamaged document; photograph the "
                                      "page with the two or three lines of code.",
        "advice.document_expired": "Use a document that is still valid.",
        "advice.underage": "This service is only for people above its minimum age.",
        "advice.country_not_allowed": "Use a document from another country, if you have one.",
        "advice.document_type_not_allowed": "Use one of the document types offered in the "
                                            "list.",
        "advice.front_back_mismatch": "Photograph both sides of the same document.",
        "advice.duplicate_document": "If you have already verified with this document, "
                                     "contact the service that sent you here.",
        "advice.processing_error": "Try again later with a new link.",
        "advice.processing_timeout": "A person will look at your verification; you do not "
                                     "need to do anything.",
        "advice.face_mismatch": "Make sure the photo is of you, the document's holder, with "
                                "your face uncovered.",
        "advice.no_face": "Face the camera, in good light, with nothing covering your face.",
        "advice.multiple_faces": "Make sure only your face is in the picture.",
        "advice.face_too_small": "Hold the camera closer so that your face fills the oval.",
        "advice.low_quality": "Find more light and hold the camera still.",
        "advice.liveness_failed": "Do each movement when asked, in good light, facing the "
                                  "camera.",
        "advice.challenge_expired": "Start the video check and do the movements at once.",
        "advice.challenge_replayed": "Start a new video check.",
        "advice.presentation_attack_suspected": "Use your own face in front of the camera, "
                                                "not a photo or a screen.",
        "advice.default": "Contact the service that sent you here.",
        "upload.rejected": "This file could not be used: {reason}.",
        "upload.too_large": "the file is too large",
        "upload.type": "only JPEG, PNG, WebP or HEIC photos are accepted",
        "upload.corrupt": "the image is damaged or too small",
        "upload.missing": "choose or take a photo",
        "upload.back_missing": "the back side is needed for this document",
        "upload.type_missing": "choose a document type",
    },
    "fr": {
        "title": "Vérification d'identité",
        "skip": "Aller au contenu",
        "step_of": "Étape {n} sur {total}",
        "consent.heading": "Avant de commencer",
        "consent.text": (
            "Pour vérifier votre identité, nous allons photographier votre pièce d'identité "
            "et, si demandé, votre visage. Ces images servent uniquement à contrôler que la "
            "pièce est authentique et vous appartient. Elles sont chiffrées et supprimées une "
            "fois le contrôle terminé ; le résultat est transmis au service qui vous a envoyé "
            "ici."),
        "consent.checkbox": "J'accepte le traitement de ma pièce d'identité et de mes images "
                            "pour ce contrôle.",
        "consent.submit": "Accepter et continuer",
        "consent.decline": "Annuler",
        "consent.required": "Cochez la case pour accepter, ou annulez.",
        "document.heading": "Votre pièce d'identité",
        "document.type": "Type de document",
        "document.country": "Pays de délivrance",
        "document.any_country": "Autre / non listé",
        "document.front": "Recto du document",
        "document.back": "Verso du document",
        "document.back_hint": "Nécessaire pour les cartes d'identité, permis de conduire et "
                              "titres de séjour.",
        "document.file_hint": "Une photo (JPEG, PNG, WebP ou HEIC), 10 Mo au plus.",
        "document.submit": "Envoyer",
        "doc.passport": "Passeport",
        "doc.id_card": "Carte d'identité",
        "doc.driving_licence": "Permis de conduire",
        "doc.residence_permit": "Titre de séjour",
        "doc.visa": "Visa",
        "camera.start": "Utiliser la caméra",
        "camera.take": "Prendre la photo",
        "camera.retake": "Reprendre",
        "camera.taken": "Photo prise.",
        "camera.unavailable": "La caméra n'est pas disponible : choisissez un fichier.",
        "camera.guide": "Placez le document dans le cadre, à plat et bien éclairé.",
        "camera.face_guide": "Placez votre visage dans l'ovale et regardez la caméra.",
        "selfie.heading": "Une photo de votre visage",
        "selfie.hint": "Retirez lunettes et chapeau, face à la lumière.",
        "selfie.file": "Photo de votre visage",
        "selfie.submit": "Envoyer",
        "liveness.heading": "Une courte vérification vidéo",
        "liveness.intro": "Suivez les instructions à l'écran. Cela prend quelques secondes.",
        "liveness.start": "Commencer",
        "liveness.sending": "Envoi...",
        "liveness.needs_js": "Cette étape nécessite JavaScript et une caméra.",
        "action.blink": "Clignez des yeux",
        "action.turn_left": "Tournez la tête vers la gauche",
        "action.turn_right": "Tournez la tête vers la droite",
        "action.smile": "Souriez",
        "action.nod": "Hochez la tête",
        "action.look_up": "Regardez vers le haut",
        "action.look_straight": "Regardez la caméra",
        "waiting.heading": "Vérification en cours...",
        "waiting.text": "Veuillez patienter, cela prend en général quelques secondes.",
        "waiting.continue": "Continuer",
        "retry.notice": "Essayons encore : {reason} (essai {n} sur {max}).",
        "done.heading": "Merci",
        "done.text": "Votre vérification est terminée. Vous pouvez fermer cette page.",
        "done.review": "Votre vérification a été reçue et est en cours d'examen.",
        "failed.heading": "Nous n'avons pas pu vous vérifier",
        "failed.text": "Motif : {reason}. Contactez le service qui vous a envoyé ici pour "
                       "réessayer.",
        "continue": "Retourner au service",
        "ended.heading": "Cette vérification est terminée",
        "ended.text": "Ce lien a expiré ou la vérification a été annulée.",
        "used.heading": "Ce lien a déjà été utilisé",
        "used.text": ("Pour votre sécurité, un lien de vérification ne fonctionne qu'une fois, "
                      "sur un seul appareil. Demandez un nouveau lien au service qui vous a "
                      "envoyé."),
        "invalid.heading": "Ce lien n'est pas valide",
        "invalid.text": "Vérifiez que le lien est complet, ou demandez-en un nouveau.",
        "nosession.heading": "Votre session est terminée",
        "nosession.text": "Rouvrez le lien de vérification depuis le service qui vous a "
                          "envoyé.",
        "error.heading": "Une erreur est survenue",
        "csrf.text": "Le formulaire a expiré. Revenez en arrière et réessayez.",
        "cancel": "Annuler la vérification",
        "cancelled.heading": "Vérification annulée",
        "cancelled.text": "Plus rien ne sera traité. Vous pouvez fermer cette page.",
        "cancel.confirm_heading": "Annuler la vérification ?",
        "cancel.confirm_text": "Ce que vous avez déjà envoyé ne sera pas utilisé et ce lien ne "
                               "fonctionnera plus. Pour vous vérifier plus tard, il vous faudra "
                               "un nouveau lien.",
        "cancel.confirm_yes": "Oui, annuler",
        "cancel.confirm_no": "Non, continuer",
        "close": "Fermer",
        "reason.document_unreadable": "le document n'a pas pu être lu (flou, sombre ou "
                                      "coupé)",
        "reason.document_expired": "le document a expiré",
        "reason.underage": "l'âge minimum n'est pas atteint",
        "reason.mrz_checksum_failed": "la zone de lecture automatique du document n'est pas "
                                      "valide",
        "reason.country_not_allowed": "les documents de ce pays ne sont pas acceptés",
        "reason.document_type_not_allowed": "ce type de document n'est pas accepté",
        "reason.face_mismatch": "le visage ne correspond pas au document",
        "reason.no_face": "aucun visage n'a été trouvé sur la photo",
        "reason.multiple_faces": "plusieurs visages sont sur la photo",
        "reason.face_too_small": "le visage est trop petit ou trop loin",
        "reason.low_quality": "la photo est trop floue ou trop sombre",
        "reason.liveness_failed": "la vérification vidéo n'a pas réussi",
        "reason.challenge_expired": "la vérification vidéo a pris trop de temps",
        "reason.presentation_attack_suspected": "la photo ne semblait pas prise en direct",
        "reason.default": "les contrôles n'ont pas réussi",
        "reason.front_back_mismatch": "le recto et le verso ne sont pas du même document",
        "reason.duplicate_document": "ce document a déjà servi à une autre vérification",
        "reason.processing_error": "le document n'a pas pu être contrôlé",
        "reason.processing_timeout": "les contrôles ont pris trop de temps",
        "reason.challenge_replayed": "la vérification vidéo a été envoyée deux fois",
        "failed.intro": "Ce qui s'est passé, et ce que vous pouvez faire :",
        "failed.contact": "Pour réessayer, demandez un nouveau lien au service qui vous a "
                          "envoyé ici.",
        "advice.document_unreadable": "Reprenez une photo bien éclairée, à plat, avec les "
                                      "quatre coins visibles.",
        "advice.mrz_checksum_failed": "Utilisez un document original et intact ; "
                                      "photographiez la page avec les deux ou trois lignes "
                                      "de code.",
        "advice.document_expired": "Utilisez un document encore valide.",
        "advice.underage": "Ce service est réservé aux personnes ayant l'âge minimum requis.",
        "advice.country_not_allowed": "Utilisez un document d'un autre pays, si vous en avez "
                                      "un.",
        "advice.document_type_not_allowed": "Utilisez l'un des types de document proposés "
                                            "dans la liste.",
        "advice.front_back_mismatch": "Photographiez les deux faces du même document.",
        "advice.duplicate_document": "Si vous vous êtes déjà vérifié avec ce document, "
                                     "contactez le service qui vous a envoyé ici.",
        "advice.processing_error": "Réessayez plus tard avec un nouveau lien.",
        "advice.processing_timeout": "Une personne va examiner votre vérification ; vous "
                                     "n'avez rien à faire.",
        "advice.face_mismatch": "Assurez-vous que la photo est bien la vôtre, titulaire du "
                                "document, visage découvert.",
        "advice.no_face": "Placez-vous face à la caméra, bien éclairé, sans rien devant le "
                          "visage.",
        "advice.multiple_faces": "Assurez-vous que seul votre visage est dans l'image.",
        "advice.face_too_small": "Rapprochez la caméra pour que votre visage remplisse "
                                 "l'ovale.",
        "advice.low_quality": "Trouvez plus de lumière et tenez la caméra immobile.",
        "advice.liveness_failed": "Faites chaque mouvement quand il est demandé, bien éclairé, "
                                  "face à la caméra.",
        "advice.challenge_expired": "Lancez la vérification vidéo et faites les mouvements "
                                    "sans attendre.",
        "advice.challenge_replayed": "Lancez une nouvelle vérification vidéo.",
        "advice.presentation_attack_suspected": "Présentez votre propre visage à la caméra, "
                                                "pas une photo ni un écran.",
        "advice.default": "Contactez le service qui vous a envoyé ici.",
        "upload.rejected": "Ce fichier n'a pas pu être utilisé : {reason}.",
        "upload.too_large": "le fichier est trop volumineux",
        "upload.type": "seules les photos JPEG, PNG, WebP ou HEIC sont acceptées",
        "upload.corrupt": "l'image est endommagée ou trop petite",
        "upload.missing": "choisissez ou prenez une photo",
        "upload.back_missing": "le verso est nécessaire pour ce document",
        "upload.type_missing": "choisissez un type de document",
    },
}


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
        text = self._messages.get(key) or CATALOG[DEFAULT_LOCALE].get(key) or key
        return text.format(**values) if values else text

    def reason(self, code: str | None) -> str:
        """A plain sentence for a reason code (codes only: never personal data)."""
        key = f"reason.{code}"
        return self(key) if code and key in CATALOG[DEFAULT_LOCALE] else self("reason.default")

    def advice(self, code: str | None) -> str:
        """What the person can do about a reason code."""
        key = f"advice.{code}"
        return self(key) if code and key in CATALOG[DEFAULT_LOCALE] else self("advice.default")
