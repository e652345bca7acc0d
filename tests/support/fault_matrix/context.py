"""The context a case runs in (inside the runner): its servers, config
files and scratch folder."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, Dict, List

from .settings import BUCKET, SECRET, TOKEN
from .tally import probe

if TYPE_CHECKING:
    from .case import Case


class Ctx:
    def __init__(self, art: str, case: "Case", rep: int) -> None:
        self.art, self.case, self.rep = art, case, rep
        self.seed = rep + 1
        self.tmp = tempfile.mkdtemp(prefix="case-", dir=os.path.join(art, "work"))
        self._servers: List[Any] = []

    def config(self, **extra: Any) -> str:
        """A config.json: DEBUG logs and audit lines into the artifacts (scanned
        later), 1 MiB parts and read chunks so checkpoints span several."""
        cfg = {
            "logLevel": 0,
            "logPath": os.path.join(self.art, "logs", "connector.log"),
            "auditPath": os.path.join(self.art, "logs", "audit.log"),
            "auditThresholdMs": 1,
            "partSize": 1 << 20,
            "readChunkSize": 1 << 20,
            "checkpointConfig": {"uploadConcurrency": 8},
        }
        cfg.update(extra)
        path = os.path.join(self.tmp, f"config-{len(os.listdir(self.tmp))}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def server(self, **kw: Any):
        from osstorchconnector.testing import LocalOssServer

        kw.setdefault("access_key_secret", SECRET)
        kw.setdefault("security_token", TOKEN)
        srv = LocalOssServer([BUCKET], **kw)
        srv.start()
        self._servers.append(srv)
        probe(srv)
        return srv

    def kw(self, srv, config_path: str = None, **extra: Any) -> Dict[str, Any]:
        d = dict(
            endpoint=srv.endpoint, cred_path=srv.cred_path, region=srv.region, config_path=config_path or self.config()
        )
        d.update(extra)
        return d

    def close(self) -> None:
        for i, srv in enumerate(self._servers):
            try:  # keep the server's own log for the scan
                src = os.path.join(srv._tmp, "ossemu.log")
                if os.path.exists(src):
                    shutil.copy(
                        src, os.path.join(self.art, "ossemu", f"{self.case.id.replace('/', '_')}-{self.rep}-{i}.log")
                    )
            except Exception:
                pass
            with contextlib.suppress(Exception):
                # SIGKILL, not SIGTERM: ossemu's graceful shutdown waits up to 5 s for a connection a client
                # dialled but never used (Go's StateNew), which this process's clients often hold
                srv.kill()
                srv.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
