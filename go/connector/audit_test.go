package connector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"osstorchconnector/go/ossemu"
)

func TestAuditLogRecordsSlowRequestsAndNoSecrets(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"logLevel":0`)
	e.put(t, c, "slow", []byte("zzz"))
	e.faults(t, ossemu.Faults{LatencyMs: 150})
	if _, err := c.Get(bg, tBucket, "slow"); err != nil {
		t.Fatal(err)
	}
	e.faults(t, ossemu.Faults{})
	c.Get(bg, tBucket, "slow")    // fast: not audited
	c.Get(bg, tBucket, "missing") // fast, but refused: audited
	getLoggers(c.cfg).audit.Sync()
	getLoggers(c.cfg).log.Sync()
	raw, err := os.ReadFile(filepath.Join(e.dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"key":"missing"`) || !strings.Contains(lines[1], `"status":404`) {
		t.Fatalf("audit lines: %q", raw)
	}
	var rec map[string]any
	if err := jsonAPI.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"op", "bucket", "key", "range", "bytes", "latency", "status", "request_id"} {
		if _, ok := rec[f]; !ok {
			t.Fatalf("audit record lacks %s: %s", f, lines[0])
		}
	}
	if rec["op"] != "GetObject" || rec["key"] != "slow" || rec["status"].(float64) != 200 || rec["bytes"].(float64) != 3 {
		t.Fatalf("audit record: %s", lines[0])
	}
	logs, _ := os.ReadFile(filepath.Join(e.dir, "connector.log"))
	if strings.Contains(string(raw)+string(logs), tSK) {
		t.Fatal("a log contains the secret")
	}
}
