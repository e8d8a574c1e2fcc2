"""The host's MQTT links (dta.broker) against a real mosquitto that requires the fleet's accounts
and ACL: a wrong password and a port nobody listens on each end `start` with a ServiceError
that says which, and the right account connects. (A subscription
the ACL denies is granted by mosquitto 2 over MQTT 3.1.1 and then delivers nothing, so the links'
"refused a subscription" path cannot be shown with it.)"""

import os
from dataclasses import replace

import pytest

from dta.config import Config, MqttConfig
from dta.errors import ServiceError
from dta.issuance.device_link import DeviceLink
from dta.issuance.link import AuthorityLink
from dta.services.mosquitto import AUTHORITY_USER, DEVICE_USER, free_port


def authority_config(tmp_path, auth_broker, username: str, password_file) -> Config:
    return Config(data_dir=tmp_path, mqtt=MqttConfig(
        host=auth_broker.host, port=auth_broker.port, topic_prefix="dta/v1",
        username=username, password_file=str(password_file)))


def authority_link(cfg: Config) -> AuthorityLink:
    return AuthorityLink(cfg, os.urandom(32), on_frame=lambda kid, frame: None,
                         on_hello=lambda topic, payload: None)


def test_a_wrong_password_is_refused_by_name(auth_broker, tmp_path):
    link = DeviceLink(auth_broker.host, auth_broker.port, "dta/v1", os.urandom(8),
                      username=DEVICE_USER, password="not-the-password")
    with pytest.raises(ServiceError, match="refused the connection"):
        link.start()


def test_the_authority_account_connects(auth_broker, tmp_path):
    link = authority_link(authority_config(tmp_path, auth_broker, AUTHORITY_USER,
                                           auth_broker.credentials.authority_file))
    link.start()
    link.stop()


def test_a_port_nobody_listens_on_is_unreachable(auth_broker, tmp_path):
    cfg = authority_config(tmp_path, auth_broker, AUTHORITY_USER,
                           auth_broker.credentials.authority_file)
    cfg = replace(cfg, mqtt=replace(cfg.mqtt, port=free_port()))
    with pytest.raises(ServiceError, match="cannot reach the MQTT broker"):
        authority_link(cfg).start()
