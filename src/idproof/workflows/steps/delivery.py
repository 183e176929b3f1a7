"""Sending codes: e-mail over SMTP, SMS through a gateway (Twilio, a generic HTTP provider,
or the development log)."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import quote

import httpx

log = logging.getLogger("idproof.workflows.delivery")


class DeliveryError(RuntimeError):
    """The code could not be handed over; the message names no address or number."""


@dataclass(frozen=True, slots=True)
class SmtpCodeSender:
    """IDPROOF_SMTP__HOST, __PORT, __FROM, __USERNAME, __PASSWORD, __STARTTLS."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0

    def send_code(self, to: str, code: str, *, minutes: int, language: str = "en") -> None:
        msg = EmailMessage()
        msg["Subject"] = f"Your verification code: {code}"
        msg["From"], msg["To"] = self.sender, to
        msg.set_content(f"Your verification code is {code}.\n\nIt expires in {minutes} "
                        "minutes. If you did not ask for it, ignore this e-mail.\n")
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as conn:
                if self.starttls:
                    conn.starttls(context=ssl.create_default_context())
                if self.username and self.password:
                    conn.login(self.username, self.password)
                conn.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            # The exception text can carry the recipient: only its class is reported.
            raise DeliveryError(f"the e-mail could not be sent ({type(exc).__name__})"
                                ) from None


class SmsGateway(Protocol):
    def send_sms(self, to_e164: str, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class HttpSmsGateway:
    """A generic HTTP SMS provider: POST {to, from, text} as JSON with a bearer token to
    `url`; any 2xx is accepted. Providers with another shape get an adapter of their own."""

    url: str
    token: str
    sender: str
    timeout: float = 10.0
    verify: bool | str = True

    def send_sms(self, to_e164: str, text: str) -> None:
        try:
            resp = httpx.post(self.url, json={"to": to_e164, "from": self.sender,
                                              "text": text},
                              headers={"Authorization": f"Bearer {self.token}"},
                              timeout=self.timeout, verify=self.verify)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"the SMS gateway is unreachable ({type(exc).__name__})"
                                ) from None
        if not 200 <= resp.status_code < 300:
            raise DeliveryError(f"the SMS gateway answered {resp.status_code}")


@dataclass(frozen=True, slots=True)
class TwilioSmsGateway:
    """Twilio's Programmable Messaging API: POST the form {To, From, Body} to
    `/2010-04-01/Accounts/{sid}/Messages.json` with HTTP basic auth (account SID, auth
    token); Twilio answers 201. `base_url` is Twilio's unless set (a regional edge, a test
    server). Errors name the status only: the number and the code stay out of them."""

    account_sid: str
    auth_token: str
    sender: str  # an E.164 number or a messaging service SID (MG...)
    base_url: str = "https://api.twilio.com"
    timeout: float = 10.0

    def send_sms(self, to_e164: str, text: str) -> None:
        url = (f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/"
               f"{quote(self.account_sid, safe='')}/Messages.json")
        sender = ("MessagingServiceSid" if self.sender.startswith("MG") else "From")
        try:
            resp = httpx.post(url, data={"To": to_e164, sender: self.sender, "Body": text},
                              auth=(self.account_sid, self.auth_token),
                              timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"Twilio is unreachable ({type(exc).__name__})") from None
        if resp.status_code != 201:
            raise DeliveryError(f"Twilio answered {resp.status_code}")


@dataclass(frozen=True, slots=True)
class LogSmsGateway:
    """Development only: the code goes to the operator log when `enabled` is set
    explicitly; otherwise sending fails, so a forgotten setting never leaks codes."""

    enabled: bool = False

    def send_sms(self, to_e164: str, text: str) -> None:
        if not self.enabled:
            raise DeliveryError("the log SMS provider is not enabled")
        log.warning("sms (log provider, development only) to ...%s: %s", to_e164[-2:], text)


def sms_text(code: str, minutes: int) -> str:
    return f"Your verification code is {code}. It expires in {minutes} minutes."
