"""Builds the contact steps from settings: SMTP sender, SMS gateway, code store."""

from __future__ import annotations

from idproof.audit.service import AuditService
from idproof.config import Settings
from idproof.core.clock import Clock
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.verification.service import SessionService
from idproof.workflows.steps.delivery import (
    HttpSmsGateway,
    LogSmsGateway,
    SmsGateway,
    SmtpCodeSender,
    TwilioSmsGateway,
)
from idproof.workflows.steps.otp_store import MemoryOtpStore, OtpStore, RedisOtpStore
from idproof.workflows.steps.service import ContactSteps


def sms_gateway(settings: Settings) -> SmsGateway | None:
    sms = settings.sms
    if sms.provider == "http" and sms.url and sms.token:
        return HttpSmsGateway(sms.url, sms.token.get_secret_value(), sms.sender)
    if sms.provider == "twilio" and sms.account_sid and sms.token:
        return TwilioSmsGateway(sms.account_sid, sms.token.get_secret_value(), sms.sender,
                                base_url=sms.url or "https://api.twilio.com")
    if sms.provider == "log":
        return LogSmsGateway(enabled=sms.log_enabled)
    return None


def email_sender(settings: Settings) -> SmtpCodeSender | None:
    smtp = settings.smtp
    if smtp.host is None:
        return None
    return SmtpCodeSender(smtp.host, smtp.port, smtp.sender, smtp.username,
                          smtp.password.get_secret_value() if smtp.password else None,
                          smtp.starttls)


def otp_store(settings: Settings) -> OtpStore:
    if settings.redis_url is None:
        return MemoryOtpStore()
    import redis

    return RedisOtpStore(redis.Redis.from_url(settings.redis_url.get_secret_value()))


def build_contact_steps(settings: Settings, db: Database, audit: AuditService,
                        protection: DataProtection, sessions: SessionService, otp_key: bytes,
                        clock: Clock) -> ContactSteps:
    return ContactSteps(db, audit, protection, sessions, otp_store(settings), otp_key,
                        email=email_sender(settings), sms=sms_gateway(settings), clock=clock)
