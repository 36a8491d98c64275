"""Link profiles: what a Raspberry Pi's link looks like on wired Ethernet, Wi-Fi, LTE and 3G.

drivers.lab.links applies them to lab nodes; the numbers are typical TCP-level rates and the
round trip each link adds between a Pi and a wired host.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.errors import ConfigError


@dataclass(frozen=True)
class LinkSettings:
    """One node's link. Rates in Mbit/s (None: not limited); delay is the round trip added."""

    download_mbit: float | None = None
    upload_mbit: float | None = None
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_percent: float = 0.0

    def check(self, where: str) -> LinkSettings:
        for name in ("download_mbit", "upload_mbit"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{where}: {name} must be above 0")
        if self.delay_ms < 0 or self.jitter_ms < 0:
            raise ConfigError(f"{where}: delay and jitter must not be negative")
        if self.jitter_ms > self.delay_ms:
            raise ConfigError(f"{where}: jitter {self.jitter_ms} ms exceeds delay {self.delay_ms}")
        if not 0 <= self.loss_percent < 100:
            raise ConfigError(f"{where}: loss_percent must be in [0, 100)")
        return self

    @property
    def delayed(self) -> bool:
        return self.delay_ms > 0 or self.jitter_ms > 0


@dataclass(frozen=True)
class LinkProfile:
    name: str
    settings: LinkSettings
    description: str


# Typical figures of a Raspberry Pi 4/5 on each kind of link (TCP-level rates, round trip to
# a wired host on the same site or, for the cellular ones, to the control node's network).
PROFILES: dict[str, LinkProfile] = {
    profile.name: profile
    for profile in (
        LinkProfile(
            "gigabit",
            LinkSettings(download_mbit=1000, upload_mbit=1000),
            "wired gigabit Ethernet (Pi 4/5): 1 Gbit/s each way, no added delay or loss",
        ),
        LinkProfile(
            "wifi",
            LinkSettings(
                download_mbit=100, upload_mbit=60, delay_ms=4, jitter_ms=2, loss_percent=0.1
            ),
            "802.11ac Wi-Fi a few metres from the access point",
        ),
        LinkProfile(
            "4g",
            LinkSettings(
                download_mbit=30, upload_mbit=10, delay_ms=50, jitter_ms=10, loss_percent=0.2
            ),
            "LTE modem with fair signal",
        ),
        LinkProfile(
            "3g",
            LinkSettings(
                download_mbit=2, upload_mbit=0.5, delay_ms=150, jitter_ms=30, loss_percent=1.0
            ),
            "HSPA modem: slow, late and lossy",
        ),
    )
}
DEFAULT_PROFILE = "gigabit"


def profile(name: str) -> LinkProfile:
    if name not in PROFILES:
        raise ConfigError(f"link profile {name!r}: choose one of {', '.join(PROFILES)}")
    return PROFILES[name]
