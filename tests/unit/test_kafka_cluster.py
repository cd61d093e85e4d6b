"""The local Kafka's configuration: one broker as always, or a 3-node cluster (ports, quorum,
replication of the internal topics), the topics' replication, and flushing before acknowledging."""

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.adapters.kafka import replication, topic_layout
from services.cli.main import app
from services.infra import LocalKafka, LocalKafkaCluster, components
from services.infra.kafka_server import (
    BrokerSecurity,
    KafkaNode,
    kafka_nodes,
    security_properties,
    server_properties,
)
from services.infra.servers import InfraError, free_port
from services.settings import Settings
from tests.support import eventually

SECURITY = BrokerSecurity("admin-password")


def parsed(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_one_broker_is_configured_exactly_as_before(tmp_path: Path) -> None:
    """The default (the demo's, the test suite's): node 1 on 9092, its controller on 9093."""
    settings = Settings(state_dir=tmp_path)
    assert kafka_nodes(settings) == [KafkaNode(1, "127.0.0.1", 9092, 9093)]
    kafka = LocalKafka(settings)
    assert kafka.dir == (tmp_path / "kafka").resolve()
    assert kafka.pid_file == kafka.dir / "kafka.pid"
    data = kafka.dir / "data"
    assert server_properties(kafka.node, kafka.cluster, data, SECURITY) == "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            "controller.quorum.bootstrap.servers=127.0.0.1:9093",
            "listeners=BROKER://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            "advertised.listeners=BROKER://127.0.0.1:9092",
            "controller.listener.names=CONTROLLER",
            *security_properties(SECURITY),
            f"log.dirs={data}",
            "num.partitions=1",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )
    assert isinstance(components(settings)["kafka"], LocalKafka)


def test_every_client_signs_in_and_only_acls_allow() -> None:
    """SASL/SCRAM-SHA-512 for clients and between brokers, PLAIN for admin alone on the
    controllers, the standard authorizer denying what no ACL allows, admin the only super user;
    TLS on the broker listener when asked."""
    plain = parsed("\n".join(security_properties(SECURITY)))
    assert (
        plain["listener.security.protocol.map"] == "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
    )
    assert plain["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert plain["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert plain["allow.everyone.if.no.acl.found"] == "false"
    assert plain["super.users"] == "User:admin"
    assert plain["authorizer.class.name"].endswith("StandardAuthorizer")
    assert 'user_admin="admin-password"' in plain["listener.name.controller.plain.sasl.jaas.config"]
    tls = parsed(
        "\n".join(security_properties(BrokerSecurity("pw", (Path("ca.pem"), Path("b.pem")))))
    )
    assert tls["listener.security.protocol.map"] == "BROKER:SASL_SSL,CONTROLLER:SASL_PLAINTEXT"
    assert tls["listener.name.broker.ssl.keystore.location"] == "b.pem"
    assert tls["listener.name.broker.ssl.truststore.location"] == "ca.pem"


def test_one_broker_listens_on_the_first_address_of_a_longer_bootstrap() -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:9500,127.0.0.1:9600")
    assert kafka_nodes(settings) == [KafkaNode(1, "127.0.0.1", 9500, 9501)]


def test_three_nodes_take_consecutive_ports_and_controllers_above_them() -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:19092", kafka_brokers=3)
    assert kafka_nodes(settings) == [
        KafkaNode(1, "127.0.0.1", 19092, 19095),
        KafkaNode(2, "127.0.0.1", 19093, 19096),
        KafkaNode(3, "127.0.0.1", 19094, 19097),
    ]


def test_three_nodes_listen_on_the_three_addresses_the_bootstrap_lists() -> None:
    settings = Settings(
        kafka_bootstrap="127.0.0.1:20001, 127.0.0.1:20005,127.0.0.1:20003", kafka_brokers=3
    )
    assert [(n.port, n.controller_port) for n in kafka_nodes(settings)] == [
        (20001, 20006),
        (20005, 20007),
        (20003, 20008),
    ]
    assert settings.kafka_servers == ["127.0.0.1:20001", "127.0.0.1:20005", "127.0.0.1:20003"]


def test_brokers_need_distinct_ports() -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:9092,127.0.0.1:9092", kafka_brokers=2)
    with pytest.raises(InfraError, match="distinct ports"):
        kafka_nodes(settings)


def test_a_node_of_three_has_a_static_quorum_and_replicates_internal_topics_three_times(
    tmp_path: Path,
) -> None:
    settings = Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:19092", kafka_brokers=3)
    cluster = LocalKafkaCluster(settings)
    second = cluster.node(2)
    assert second.dir == (tmp_path / "kafka" / "node-2").resolve()
    properties = parsed(
        server_properties(second.node, second.cluster, second.dir / "data", SECURITY)
    )
    assert properties == {
        "process.roles": "broker,controller",
        "node.id": "2",
        "controller.quorum.voters": "1@127.0.0.1:19095,2@127.0.0.1:19096,3@127.0.0.1:19097",
        "listeners": "BROKER://127.0.0.1:19093,CONTROLLER://127.0.0.1:19096",
        "advertised.listeners": "BROKER://127.0.0.1:19093",
        "controller.listener.names": "CONTROLLER",
        **parsed("\n".join(security_properties(SECURITY))),
        "log.dirs": str(second.dir / "data"),
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "3",
        "transaction.state.log.replication.factor": "3",
        "transaction.state.log.min.isr": "2",
        "group.initial.rebalance.delay.ms": "0",
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
        "unclean.leader.election.enable": "false",
    }
    assert "controller.quorum.bootstrap.servers" not in properties


def test_each_node_has_its_own_directory_pid_file_and_ports(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:19092", kafka_brokers=3)
    cluster = components(settings)["kafka"]
    assert isinstance(cluster, LocalKafkaCluster)
    assert cluster.bootstrap == "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
    assert len({node.dir for node in cluster.nodes}) == 3
    assert len({node.pid_file for node in cluster.nodes}) == 3
    assert len({node.marker for node in cluster.nodes}) == 3
    ports = [p for node in cluster.nodes for p in (node.node.port, node.node.controller_port)]
    assert len(set(ports)) == 6
    assert [s.name for s in cluster.statuses()] == ["kafka-1", "kafka-2", "kafka-3"]


def test_flushing_before_acknowledging_is_one_line_and_off_by_default(tmp_path: Path) -> None:
    node = kafka_nodes(Settings())[0]
    assert "log.flush" not in server_properties(node, [node], tmp_path, SECURITY)
    flushing = parsed(server_properties(node, [node], tmp_path, SECURITY, fsync_before_ack=True))
    assert flushing["log.flush.interval.messages"] == "1"
    assert Settings().kafka_fsync_before_ack is False


@pytest.mark.parametrize(
    ("brokers", "replicas", "min_isr"), [(1, 1, "1"), (2, 2, "1"), (3, 3, "2"), (5, 3, "2")]
)
def test_topics_are_replicated_for_the_cluster(brokers: int, replicas: int, min_isr: str) -> None:
    assert replication(brokers) == (replicas, {"min.insync.replicas": min_isr})
    layout = topic_layout(Settings(kafka_brokers=brokers, topic_prefix="t", partitions=4))
    assert set(layout) == {
        "t.submissions",
        "t.events",
        "t.outcomes",
        "t.checkpoints",
        "t.deadletter",
        "t.decider-snapshots",
    }
    for name, (partitions, copies, config) in layout.items():
        assert copies == replicas, name
        assert config["min.insync.replicas"] == min_isr, name
        assert partitions == (1 if name == "t.deadletter" else 4)
    assert layout["t.events"][2]["retention.ms"] == "-1"  # the log of record is kept forever
    # Each case's latest snapshot record stays, the ones it replaced go.
    assert layout["t.decider-snapshots"][2]["cleanup.policy"] == "compact"


def test_the_brokers_option_and_setting_reach_infra_status(tmp_path: Path) -> None:
    env = {
        "CASETRAIL_STATE_DIR": str(tmp_path),
        "CASETRAIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "CASETRAIL_POSTGRES_DSN": f"postgresql://casetrail:casetrail@127.0.0.1:{free_port()}/x",
    }
    flag = CliRunner().invoke(app, ["infra", "status", "--json", "--brokers", "3"], env=env)
    assert flag.exit_code == 0, flag.output
    names = [s["name"] for s in json.loads(flag.output)]
    assert names == ["kafka-1", "kafka-2", "kafka-3", "postgres"]
    setting = CliRunner().invoke(
        app, ["infra", "status", "--json"], env={**env, "CASETRAIL_KAFKA_BROKERS": "3"}
    )
    assert [s["name"] for s in json.loads(setting.output)] == names
    single = CliRunner().invoke(app, ["infra", "status", "--json"], env=env)
    assert [s["name"] for s in json.loads(single.output)] == ["kafka", "postgres"]


def test_down_stops_every_node_it_started_and_nothing_else(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:19092", kafka_brokers=3)
    cluster = LocalKafkaCluster(settings)
    stand_ins = []
    for node in cluster.nodes[:2]:  # the third node is not running
        node.dir.mkdir(parents=True)
        # A stand-in whose command line names the node's server.properties, as a node's does.
        stand_in = subprocess.Popen(["sh", "-c", "sleep 30", str(node.properties)])
        node.pid_file.write_text(f"{stand_in.pid}\n")
        eventually(lambda n=node: n.running_pid(), 5, "the stand-in's exec")  # type: ignore[misc]
        stand_ins.append(stand_in)
    stranger = subprocess.Popen(["sleep", "30"])
    cluster.nodes[2].dir.mkdir(parents=True)
    cluster.nodes[2].pid_file.write_text(f"{stranger.pid}\n")  # a recycled pid: not ours
    try:
        said: list[str] = []
        cluster.down(said.append)
        assert [p.wait(timeout=5) != 0 for p in stand_ins] == [True, True]
        assert stranger.poll() is None
        assert said == [
            f"kafka-1: stopped pid {stand_ins[0].pid}",
            f"kafka-2: stopped pid {stand_ins[1].pid}",
        ]
    finally:
        stranger.kill()
        stranger.wait()
