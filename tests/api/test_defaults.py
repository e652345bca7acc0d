"""Defaults as upstream's (osstorchconnector 1.2.3): INFO logging unless
DEBUG is asked for, the implicit /etc/oss-connector/config.json, the implicit
credentials files. Each case runs in a fresh interpreter: the core reads the
environment (OSSTORCH_DEFAULT_CONFIG, HOME) when it is loaded, and this one
has loaded it already. Nothing here writes to /etc, /root or /var/log."""

import json
import os
import subprocess
import sys

import pytest

from osstorchconnector.testing import LocalOssServer

BUCKET = "defaults"
OBJECTS = 10
READS = 20_000
LOG_LIMIT = 16 * 1024  # a few lines of INFO; DEBUG is ~3 KB per GET

# Reads READS objects through OssMapDataset in DataLoader-sized batches and
# prints the effective configuration. argv: endpoint, cred_path, region,
# config_path ("-" for none: the argument is left out), reads.
EPOCH = r"""
import json, sys
from osstorchconnector import OssMapDataset
from osstorchconnector import _native
endpoint, cred, region, cfg, reads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
kw = dict(endpoint=endpoint, cred_path=cred, region=region)
if cfg != "-":
    kw["config_path"] = cfg
uris = [f"oss://defaults/o/{i:02d}" for i in range(10)]
ds = OssMapDataset.from_objects(uris, transform=lambda o: o.read(), **kw)
done = 0
while done < reads:
    n = min(100, reads - done)
    got = ds.__getitems__([(done + j) % len(ds) for j in range(n)])
    assert got == [b"x%02d" % ((done + j) % len(ds)) for j in range(n)], got[:3]
    done += n
opts = dict(endpoint=endpoint, cred_path=cred, region=region, config_path="" if cfg == "-" else cfg)
print(json.dumps({"reads": done, "config": _native.NativeClient(opts).config()}))
"""


@pytest.fixture(scope="module")
def srv():
    with LocalOssServer([BUCKET]) as s:
        for i in range(OBJECTS):
            s.put_object(BUCKET, f"o/{i:02d}", b"x%02d" % i)
        yield s


def epoch(srv, tmp_path, config_path="-", reads=READS, cred_path=None, **env):
    e = dict(os.environ)
    e.pop("OSS_ACCESS_KEY_ID", None)
    e.pop("OSS_ACCESS_KEY_SECRET", None)
    e.setdefault("OSSTORCH_DEFAULT_CONFIG", str(tmp_path / "no-such-config.json"))
    e.update(env)
    cred = srv.cred_path if cred_path is None else cred_path
    out = subprocess.run(
        [sys.executable, "-c", EPOCH, srv.endpoint, cred, srv.region, config_path, str(reads)],
        capture_output=True,
        text=True,
        timeout=120,
        env=e,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def log_paths_config(tmp_path, name, **extra):
    cfg = {"logPath": str(tmp_path / f"{name}.log"), "auditPath": str(tmp_path / f"{name}-audit.log"), **extra}
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(cfg))
    return p, tmp_path / f"{name}.log"


@pytest.mark.timeout(180)
def test_an_epoch_with_default_settings_writes_a_few_kb_of_log(srv, tmp_path):
    """20,000 reads with no config_path: the implicit config.json (moved by
    OSSTORCH_DEFAULT_CONFIG to name log files in tmp_path, nothing else) and
    the default level. The core used to log at DEBUG, with the SDK's ~11
    lines per GET: ~64 MB for this epoch."""
    implicit, log = log_paths_config(tmp_path, "implicit")
    r = epoch(srv, tmp_path, OSSTORCH_DEFAULT_CONFIG=str(implicit))
    assert r["reads"] == READS
    assert r["config"]["logLevel"] == 1 and r["config"]["logPath"] == str(log)
    assert log.exists(), "the implicit config.json was not read"
    assert log.stat().st_size < LOG_LIMIT, log.read_text()[:2000]
    assert "oss-sdk" not in log.read_text()


@pytest.mark.timeout(180)
def test_a_config_without_loglevel_logs_at_info_and_an_explicit_0_at_debug(srv, tmp_path):
    cfg, log = log_paths_config(tmp_path, "unset")
    epoch(srv, tmp_path, str(cfg))
    assert log.stat().st_size < LOG_LIMIT, log.read_text()[:2000]
    # The measure is sensitive: logLevel 0 writes the SDK's lines, 200 reads
    # are enough to pass the limit.
    cfg, log = log_paths_config(tmp_path, "debug", logLevel=0)
    r = epoch(srv, tmp_path, str(cfg), reads=200)
    assert r["config"]["logLevel"] == 0
    assert log.stat().st_size > LOG_LIMIT and '"source":"oss-sdk"' in log.read_text()
    assert srv.access_key_secret not in log.read_text()


@pytest.mark.timeout(120)
def test_no_config_anywhere_means_the_built_in_defaults(srv, tmp_path):
    """Upstream raises "failed to parse config file
    '/etc/oss-connector/config.json'" when that file is absent; here it is the
    defaults, logs in upstream's default place (not written to by this test:
    the 100 reads at INFO log nothing)."""
    r = epoch(srv, tmp_path, reads=100)
    c = r["config"]
    assert c["logLevel"] == 1 and c["logPath"] == "/var/log/oss-connector/connector.log"
    assert c["auditPath"] == "/var/log/oss-connector/audit.log"
    assert c["datasetConfig"]["prefetchConcurrency"] == 24


@pytest.mark.timeout(120)
def test_a_wrong_implicit_config_is_a_value_error_naming_field_and_file(srv, tmp_path):
    implicit = tmp_path / "config.json"
    implicit.write_text(json.dumps({"datasetConfig": {"prefetchConcurrency": "8"}}))
    code = (
        "import sys\nfrom osstorchconnector import OssMapDataset\n"
        "try:\n"
        "    OssMapDataset.from_prefix('oss://defaults/o/', endpoint=sys.argv[1], cred_path=sys.argv[2], region=sys.argv[3])\n"
        "except ValueError as e:\n"
        "    print('ValueError:', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, srv.endpoint, srv.cred_path, srv.region],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, OSSTORCH_DEFAULT_CONFIG=str(implicit)),
    )
    assert out.stdout.startswith("ValueError:"), out.stdout + out.stderr
    assert str(implicit) in out.stdout and "datasetConfig.prefetchConcurrency must be" in out.stdout
    assert "config_path is empty" in out.stdout


@pytest.mark.timeout(120)
def test_empty_cred_path_reads_the_credentials_file_under_home(srv, tmp_path):
    """cred_path="" and no cred_provider: upstream reads
    /root/.alibabacloud/credentials; for a user who is not root the same file
    under HOME is read too (after it; the test cannot tell which one a root
    run picks if /root has one, so it skips then)."""
    if os.path.exists("/root/.alibabacloud/credentials"):
        pytest.skip("this machine has /root/.alibabacloud/credentials")
    home = tmp_path / "home"
    (home / ".alibabacloud").mkdir(parents=True)
    cred = home / ".alibabacloud" / "credentials"
    cred.write_text(open(srv.cred_path).read())
    cred.chmod(0o600)
    r = epoch(srv, tmp_path, cred_path="", reads=10, HOME=str(home))
    assert r["reads"] == 10


@pytest.mark.timeout(120)
def test_no_credentials_anywhere_names_the_places_looked_at(srv, tmp_path):
    places = ["/root/.alibabacloud/credentials", "/mnt/.alibabacloud/credentials"]
    if any(os.path.exists(p) for p in places):
        pytest.skip("this machine has a default credentials file")
    home = tmp_path / "home"
    home.mkdir()
    code = (
        "import sys\nfrom osstorchconnector import OssMapDataset\n"
        "try:\n"
        "    OssMapDataset.from_prefix('oss://defaults/o/', endpoint=sys.argv[1], region=sys.argv[2])\n"
        "except PermissionError as e:\n"
        "    print('PermissionError:', e)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSS_ACCESS_KEY")}
    out = subprocess.run(
        [sys.executable, "-c", code, srv.endpoint, srv.region],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(env, HOME=str(home)),
    )
    assert out.stdout.startswith("PermissionError:"), out.stdout + out.stderr
    for p in places + [str(home / ".alibabacloud" / "credentials"), "cred_path", "OSS_ACCESS_KEY_ID"]:
        assert p in out.stdout, (p, out.stdout)
