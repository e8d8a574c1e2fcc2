"""The D-TA's issuance service (issues 11 and 12, the D-TA's side) and a host-side device.

Modules:
  service       AuthorityService: one D-TA over MQTT (handshakes, shares, receipts, its log,
                checkpoints and anchoring); `dta authority run` wraps AuthorityService.open
  link          its paho MQTT session: client id from the D-TA id, topics, frame checks
  strands       a device's frames in order, devices in parallel, on one thread pool
  peer          DevicePeer: one device's trust requests, handshakes, resumptions, sessions
  issuer        ShareIssuer: checks, derivation, write-ahead ShareIssued, checkpoint, statement
  index         IssuanceIndex: (subject, epoch) -> its entry, refusals, receipt bookkeeping;
                rebuilt from the log after a crash
  ticket_table  the resumption tickets on disk (0600, atomic writes)
  trust         the trust bundle (or a typed refusal) for a TRUST_REQUEST
  receipts      binary receipts for devices (dtacore.receipt_bytes) and their anchored upgrade
  policy        the pre-issuance policy hook: a callable or a command, with a time limit
  settings      IssuanceSettings, checked
  device        DeviceClient: a device's side of the channel on the host (tests, bench, tools)
  device_link   its MQTT side
"""

from dta.issuance.device import (
    DeviceClient,
    IssuedShare,
    NoAnswer,
    PeerRefused,
    Provisioning,
    ShareRefused,
    TrustRefused,
)
from dta.issuance.device_link import DeviceLink
from dta.issuance.policy import CallablePolicy, CommandPolicy, PolicyRequest, Verdict
from dta.issuance.service import AuthorityService, IssuanceEvent
from dta.issuance.settings import IssuanceSettings

__all__ = ["AuthorityService", "CallablePolicy", "CommandPolicy", "DeviceClient", "DeviceLink",
           "IssuanceEvent", "IssuanceSettings", "IssuedShare", "NoAnswer", "PeerRefused",
           "PolicyRequest", "Provisioning", "ShareRefused", "TrustRefused", "Verdict"]
