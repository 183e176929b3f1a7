"""Held-out accuracy of the IP and device signals on labelled synthetic sessions.

Two worlds are drawn from the same generator with different seeds: a tuning world, on which
the velocity and device-reuse thresholds are chosen (best F1 against the fraud labels), and a
held-out world, on which every figure is reported with those thresholds fixed (and with the
shipped defaults, side by side). Nothing is tuned on the reported world.

What is real: the dataset files are written in the documented formats and parsed by
`signals.ipintel`; lookups, `device.fingerprint` (with its user-agent version stripping),
`automation_hints`, `emulator_hints` and `rules.evaluate` are the service's own code. What is
simulated: the per-session counts the service reads from `signal_observations` (other
sessions per IP and per device in the window, other documents on the device) are counted here
in memory with the same definitions, so that tens of thousands of sessions take seconds.

The world's imperfections are parameters (below), chosen before any figure was seen: stale
lists (Tor exits churn, datacenter and VPN lists miss ranges), mis-geolocated blocks, carrier
NAT sharing an address between genuine users, families sharing a device, identical phones
(same model, OS, locale) that a browser fingerprint cannot tell apart, fraudsters who
randomise their canvas, and stealth bots that hide every automation hint. The figures measure
the signals against these, not against the real internet.
"""

from __future__ import annotations

import io
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from idproof.signals.device import DeviceAttributes, automation_hints, emulator_hints, fingerprint
from idproof.signals.ipintel import IpIntel, RangeTable, parse
from idproof.signals.rules import Limits, Observed, evaluate

COUNTRIES = ("FR", "DE", "ES", "IT", "NL", "PL", "GB", "US")
TZ = {"FR": "Europe/Paris", "DE": "Europe/Berlin", "ES": "Europe/Madrid", "IT": "Europe/Rome",
      "NL": "Europe/Amsterdam", "PL": "Europe/Warsaw", "GB": "Europe/London",
      "US": "America/New_York"}
LANG = {"FR": "fr-FR", "DE": "de-DE", "ES": "es-ES", "IT": "it-IT", "NL": "nl-NL",
        "PL": "pl-PL", "GB": "en-GB", "US": "en-US"}
# The world's imperfections (fixed before measuring).
WORLD = {"tor_new_exits": 0.10, "tor_retired_reassigned": 0.05, "dc_coverage": 0.90,
         "vpn_coverage": 0.70, "geo_wrong": 0.03, "cgnat_share": 0.15, "family_share": 0.04,
         "travellers": 0.05, "ring_canvas_random": 0.30, "bot_stealth": 0.25}
# (name, user agent with a version, platform, screen, touch, gpu renderer, weight)
DESKTOPS = [
    ("win-chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Chrome/{v}.0.0.0 Safari/537.36", "Win32", 0, 5),
    ("mac-safari", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.{v} Safari/605.1.15", "MacIntel", 0, 2),
    ("linux-firefox", "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
     "Linux x86_64", 0, 1)]
PHONES = [
    ("iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v} like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.{v} Mobile/15E148 Safari/604.1", "iPhone", 5, 4),
    ("android", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36", "Linux armv8l", 5, 3)]
GPUS = ["ANGLE (NVIDIA GeForce RTX 3060)", "ANGLE (Intel UHD Graphics 620)",
        "ANGLE (AMD Radeon RX 6600)", "Apple M1", "Apple M2", "Mali-G715", "Adreno 740"]


@dataclass
class Session:
    identity: str
    device: DeviceAttributes
    ip: str
    doc_country: str
    fraud: bool = False  # a ring member or a bot
    bot: bool = False
    emulator: bool = False
    truth: dict[str, bool] = field(default_factory=dict)  # ip_datacenter, ip_vpn, ip_tor, ...


class World:
    """Address blocks, the operator's (imperfect) dataset files, and labelled sessions."""

    def __init__(self, seed: int, sessions: int) -> None:
        self.r = random.Random(seed)
        self.seed = seed
        self._intel: IpIntel | None = None
        self._blocks: set[int] = set()
        self.country_of: dict[int, str] = {}  # the block's real country
        self.geo_rows: list[str] = []
        self.dc = [self._block() for _ in range(60)]
        self.vpn = [self._block() for _ in range(30)]
        self.dc_set, self.vpn_set = set(self.dc), set(self.vpn)
        self.res = {c: [self._block(c) for _ in range(40)] for c in COUNTRIES}
        for b in self.dc + self.vpn:
            self._geo(b, self.r.choice(COUNTRIES))
        self.tor_live = [self._addr(self.r.choice(self.dc + self.vpn)) for _ in range(150)]
        self.sessions: list[Session] = []
        self.features: list[tuple[Session, Observed]] | None = None
        self._make_sessions(sessions)

    # -- addresses and datasets ------------------------------------------------------------
    def _block(self, country: str | None = None) -> int:
        while True:
            b = self.r.randrange(1 << 16, (223 << 16))  # a /24 as its first 24 bits
            if b not in self._blocks:
                self._blocks.add(b)
                if country is not None:
                    self._geo(b, country)
                return b

    def _geo(self, block: int, country: str) -> None:
        self.country_of[block] = country
        wrong = self.r.random() < WORLD["geo_wrong"]
        shown = self.r.choice([c for c in COUNTRIES if c != country]) if wrong else country
        self.geo_rows.append(f"{self._net(block)},{shown},{64500 + block % 900},")

    @staticmethod
    def _net(block: int) -> str:
        return f"{block >> 16}.{(block >> 8) & 255}.{block & 255}.0/24"

    def _addr(self, block: int) -> str:
        return f"{block >> 16}.{(block >> 8) & 255}.{block & 255}.{self.r.randrange(1, 255)}"

    def intel(self) -> IpIntel:
        """The datasets as the operator imported them: a stale Tor list, partial lists."""
        if self._intel is None:
            self._intel = self._datasets(random.Random(self.seed + 1))
        return self._intel

    def _datasets(self, r: random.Random) -> IpIntel:
        listed_tor = [a for a in self.tor_live if r.random() > WORLD["tor_new_exits"]]
        retired = [self._addr(r.choice(self.res[c])) for c in COUNTRIES for _ in range(
            int(len(self.tor_live) * WORLD["tor_retired_reassigned"] / len(COUNTRIES)) + 1)]
        self.retired = set(retired)
        files = {
            "geoip": "network,country,asn,org\n" + "\n".join(self.geo_rows),
            "tor": "\n".join(f"ExitAddress {a} 2026-11-01 00:00:00" for a in
                             listed_tor + retired),
            "datacenter": "\n".join(self._net(b) for b in self.dc
                                    if r.random() < WORLD["dc_coverage"]),
            "vpn": "\n".join(self._net(b) for b in self.vpn
                             if r.random() < WORLD["vpn_coverage"])}
        return IpIntel({k: RangeTable(parse(k, io.BytesIO(v.encode()))) for k, v in
                        files.items()})

    # -- devices ---------------------------------------------------------------------------
    def _device(self, country: str, *, phone: bool | None = None) -> DeviceAttributes:
        r = self.r
        phone = r.random() < 0.55 if phone is None else phone
        kinds = PHONES if phone else DESKTOPS
        name, ua, platform, touch, _w = r.choices(kinds, weights=[k[4] for k in kinds])[0]
        if name == "iphone":  # identical hardware and software: little to tell them apart
            screen = r.choice([(390, 844), (393, 852), (430, 932), (375, 667)])
            gpu, cores, canvas = "Apple GPU", 6, f"{hash(screen) & (2**64 - 1):016x}"
            ua = ua.replace("17_{v}", f"17_{r.randrange(0, 6)}")
        elif name == "android":
            screen, gpu, cores = (412, 915), r.choice(GPUS[5:]), 8
            canvas = f"{hash((name, gpu)) & (2**64 - 1):016x}"
        else:
            screen = r.choice([(1920, 1080), (2560, 1440), (1536, 864), (1440, 900)])
            gpu, cores = r.choice(GPUS[:5]), r.choice([4, 8, 12, 16])
            canvas = f"{r.getrandbits(64):016x}"  # fonts and drivers differ per machine
        return DeviceAttributes(
            user_agent=ua.format(v=r.randrange(118, 125)), platform=platform,
            languages=[LANG[country]], timezone=TZ[country], screen_width=screen[0],
            screen_height=screen[1], color_depth=24, pixel_ratio=3.0 if phone else 1.0,
            hardware_concurrency=cores, touch_points=touch, webgl_renderer=gpu,
            canvas_hash=canvas, plugins=0 if phone else 5)

    @staticmethod
    def _updated(d: DeviceAttributes) -> DeviceAttributes:
        """The same browser a major version later (the fingerprint must not change)."""
        ua = re.sub(r"(Chrome/|Firefox/|rv:|Version/)(\d+)",
                    lambda m: f"{m.group(1)}{int(m.group(2)) + 1}", d.user_agent)
        return d.model_copy(update={"user_agent": ua})

    # -- sessions --------------------------------------------------------------------------
    def _make_sessions(self, n: int) -> None:
        r, ident = self.r, 0
        cgnat = {c: [self._addr(r.choice(self.res[c])) for _ in range(25)] for c in COUNTRIES}
        while len(self.sessions) < n:
            roll = r.random()
            ident += 1
            if roll < 0.93:
                self._genuine(f"p{ident}", cgnat)
            elif roll < 0.96:
                ident += self._ring(ident)
            else:
                self._bot(f"b{ident}")

    def _genuine(self, who: str, cgnat: dict[str, list[str]]) -> None:
        r = self.r
        country = r.choice(COUNTRIES)
        abroad = r.random() < WORLD["travellers"]
        where = r.choice([c for c in COUNTRIES if c != country]) if abroad else country
        shared_ip = r.random() < WORLD["cgnat_share"]
        ip = r.choice(cgnat[where]) if shared_ip else self._addr(r.choice(self.res[where]))
        device = self._device(country)
        for attempt in range(r.choice([1, 1, 1, 2])):
            dev = self._updated(device) if attempt else device
            self._add(Session(who, dev, ip, country), where=where)
        if r.random() < WORLD["family_share"]:  # a relative verifies on the same device
            self._add(Session(who + "-relative", device, ip, country), where=where)

    def _ring(self, start: int) -> int:
        """One fraudster, one device, many identities, from proxies or hosting."""
        r = self.r
        device = self._device(r.choice(COUNTRIES))
        pool = r.choice(["dc", "vpn", "tor", "res"])
        size = r.randrange(3, 16)
        for i in range(size):
            dev = device
            if r.random() < WORLD["ring_canvas_random"]:
                dev = device.model_copy(update={"canvas_hash": f"{r.getrandbits(64):016x}"})
            ip, where = self._fraud_ip(pool)
            self._add(Session(f"r{start}-{i}", dev, ip, r.choice(COUNTRIES), fraud=True),
                      where=where, kind=pool)
        return size

    def _fraud_ip(self, pool: str) -> tuple[str, str]:
        r = self.r
        if pool == "tor":
            return r.choice(self.tor_live), ""
        if pool == "res":  # residential proxies: hard to tell from real users
            c = r.choice(COUNTRIES)
            return self._addr(r.choice(self.res[c])), c
        return self._addr(r.choice(self.dc if pool == "dc" else self.vpn)), ""

    def _bot(self, who: str) -> None:
        r = self.r
        country = r.choice(COUNTRIES)
        emulator = r.random() < 0.2
        if emulator:
            device = self._device(country, phone=True).model_copy(update={
                "platform": "Linux x86_64",  # an x86 Android image
                "user_agent": "Mozilla/5.0 (Linux; Android 14; sdk_gphone64_x86_64) "
                              "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
                              "Mobile Safari/537.36",
                "webgl_renderer": "Android Emulator OpenGL ES Translator (SwiftShader)"})
        elif r.random() < WORLD["bot_stealth"]:
            device = self._device(country, phone=False)  # hides every hint
        else:
            device = self._device(country, phone=False)
            ua = device.user_agent
            if r.random() < 0.5:
                ua = ua.replace("Chrome/", "HeadlessChrome/")
            device = device.model_copy(update={
                "webdriver": r.random() < 0.6, "user_agent": ua,
                "webgl_renderer": r.choice(["Google SwiftShader", "llvmpipe", GPUS[1]]),
                "languages": r.choice([[], [LANG[country]]])})
        ip, where = self._fraud_ip("dc")
        self._add(Session(who, device, ip, country, fraud=True, bot=not emulator,
                          emulator=emulator), where=where, kind="dc")

    @staticmethod
    def _block_of(ip: str) -> int:
        a, b, c, _d = (int(x) for x in ip.split("."))
        return (a << 16) | (b << 8) | c

    def _add(self, s: Session, *, where: str, kind: str = "res") -> None:
        block = self._block_of(s.ip)
        s.truth = {"ip_tor": s.ip in self.tor_live, "ip_datacenter": block in self.dc_set,
                   "ip_vpn": block in self.vpn_set,
                   "ip_country_mismatch": self.country_of[self._block_of(s.ip)] != s.doc_country}
        self.sessions.append(s)


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif actual:
            self.fn += 1
        else:
            self.tn += 1

    def text(self) -> str:
        def share(a: int, b: int, digits: int = 1) -> str:
            return f"{a / (a + b):6.{digits}%}" if a + b else "     —"

        return (f"precision {share(self.tp, self.fp)}  recall {share(self.tp, self.fn)}  "
                f"false-positive rate {share(self.fp, self.tn, 2)}  "
                f"(tp {self.tp}, fp {self.fp}, fn {self.fn})")

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


def features(world: World) -> list[tuple[Session, Observed]]:
    """What the service would know of each session (lookups, hints, counts), computed once
    per world; the thresholds are applied by `evaluate` in `run`."""
    if world.features is None:
        intel = world.intel()
        key = b"k" * 32
        by_ip: Counter[str] = Counter(s.ip for s in world.sessions)
        fps = [fingerprint(key, s.device) for s in world.sessions]
        by_dev: Counter[str] = Counter(fps)
        docs_on_dev: dict[str, set[str]] = defaultdict(set)
        for s, fp in zip(world.sessions, fps, strict=True):
            docs_on_dev[fp].add(s.identity)
        world.features = [
            (s, Observed(intel.lookup(s.ip), (s.doc_country,),
                         tuple(automation_hints(s.device)), tuple(emulator_hints(s.device)),
                         {"ip": by_ip[s.ip] - 1, "device": by_dev[fp] - 1},
                         len(docs_on_dev[fp] - {s.identity}), device_seen=True))
            for s, fp in zip(world.sessions, fps, strict=True)]
    return world.features


def run(world: World, limits: Limits) -> dict[str, Scores]:
    """Every session's signals as the service computes them, scored against its labels."""
    out: dict[str, Scores] = defaultdict(Scores)
    for s, seen in features(world):
        report = evaluate(seen, limits)
        sig = report.signals
        for name in ("ip_tor", "ip_datacenter", "ip_vpn", "ip_country_mismatch"):
            out[name].add(sig[name], s.truth[name])
        out["automation_suspected"].add(sig["automation_suspected"], s.bot)
        out["emulator_suspected"].add(sig["emulator_suspected"], s.emulator)
        out["device_reused (fraud)"].add(sig["device_reused"], s.fraud)
        out["velocity_exceeded on ip (fraud)"].add("ip" in sig["velocity_over"], s.fraud)
        out["any signal (fraud)"].add(bool(report.reasons), s.fraud)
    return out


def tune(world: World) -> Limits:
    """The thresholds with the best F1 against the fraud labels, on the tuning world only."""
    best_dev = max((1, 2, 3, 4, 6), key=lambda n: run(world, Limits(device_identities=n))[
        "device_reused (fraud)"].f1)
    best_ip = max((2, 3, 5, 10, 20, 50), key=lambda n: run(world, Limits(max_per_ip=n))[
        "velocity_exceeded on ip (fraud)"].f1)
    return Limits(device_identities=best_dev, max_per_ip=best_ip)


def stability(world: World) -> tuple[float, float]:
    """(same device after a browser update -> same fingerprint; distinct genuine devices
    sharing a fingerprint with another)."""
    key = b"k" * 32
    genuine = [s for s in world.sessions if not s.fraud and "-relative" not in s.identity]
    same = sum(fingerprint(key, s.device) == fingerprint(key, World._updated(s.device))
               for s in genuine)
    fps = Counter(fingerprint(key, s.device) for s in genuine)
    shared = sum(1 for s in genuine if fps[fingerprint(key, s.device)] > 1)
    return same / len(genuine), shared / len(genuine)


def report(sessions: int) -> dict[str, Any]:
    tuning, held = World(seed=101, sessions=sessions), World(seed=202, sessions=sessions)
    chosen = tune(tuning)
    print(f"== IP and device signals, held-out ({sessions:,} synthetic sessions per world; "
          f"thresholds chosen on the tuning world: device_identities="
          f"{chosen.device_identities}, max_per_ip={chosen.max_per_ip}; defaults "
          f"{Limits().device_identities}, {Limits().max_per_ip})")
    print("   world: " + ", ".join(f"{k} {v:g}" for k, v in WORLD.items()))
    fraud = sum(s.fraud for s in held.sessions)
    print(f"   held-out: {fraud} fraud sessions of {len(held.sessions)} "
          f"({sum(s.bot for s in held.sessions)} bots, "
          f"{sum(s.emulator for s in held.sessions)} emulators)")
    tuned, default = run(held, chosen), run(held, Limits())
    for name in tuned:
        print(f"   {name:34s} {tuned[name].text()}")
        if default[name].text() != tuned[name].text():
            print(f"   {'  (defaults)':34s} {default[name].text()}")
    same, shared = stability(held)
    print(f"   fingerprint: same after a browser update {same:.1%}; genuine devices sharing "
          f"a fingerprint with another {shared:.1%} (identical phones)")
    return {"chosen": chosen, "tuned": tuned, "default": default}
