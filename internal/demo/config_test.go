package demo

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	httpconn "github.com/ferry-dev/ferry/internal/connector/http"
	"github.com/ferry-dev/ferry/internal/transform"
)

func TestConfigLoads(t *testing.T) {
	data := Config("http://127.0.0.1:4001/", "http://127.0.0.1:4002")
	if strings.Contains(string(data), "__") {
		t.Fatalf("placeholder left in:\n%s", data)
	}
	cfg, err := config.Parse(data, "", all.Set())
	if err != nil {
		t.Fatalf("demo config does not load:\n%v", err)
	}
	if got := cfg.Systems["shop"].Config.(*httpconn.SystemConfig).URL; got != "http://127.0.0.1:4001/api" {
		t.Errorf("shop url = %q", got)
	}
	if got := cfg.Systems["erp"].Config.(*httpconn.SystemConfig).URL; got != "http://127.0.0.1:4002/erp" {
		t.Errorf("erp url = %q", got)
	}
	if a := cfg.Systems["shop"].Config.(*httpconn.SystemConfig).Auth; a == nil || a.Bearer != ShopToken {
		t.Errorf("shop auth = %+v", a)
	}
	if a := cfg.Systems["erp"].Config.(*httpconn.SystemConfig).Auth; a == nil || a.Basic == nil || a.Basic.User != ERPUser || a.Basic.Password != ERPPassword {
		t.Errorf("erp auth = %+v", a)
	}
	if got := strings.Join(cfg.RouteOrder, ","); got != "orders,stock,pushed_orders" {
		t.Errorf("routes = %s", got)
	}
}

// TestConfigStepsOverShopOrders runs the orders route's steps over every
// order of a demo shop: the special orders take the paths the demo shows.
func TestConfigStepsOverShopOrders(t *testing.T) {
	cfg, err := config.Parse(Config("http://a", "http://b"), "", all.Set())
	if err != nil {
		t.Fatal(err)
	}
	p, err := transform.Compile(cfg.Routes["orders"].Steps)
	if err != nil {
		t.Fatal(err)
	}
	s := NewShop(120, 1)
	counts := map[string]int{}
	for id := 1; id <= s.Len(); id++ {
		o, _ := s.Order(id)
		var rec map[string]any
		b, _ := json.Marshal(o)
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		out := p.Apply(rec, map[string]any{"key": strconv.Itoa(id), "cursor": ""})
		switch {
		case o.Status == "cancelled":
			if !out.Skipped {
				t.Errorf("cancelled order %d not skipped: %+v", id, out)
			}
			counts["skipped"]++
		case o.Email == "":
			if want := "order " + o.Number + " has no e-mail"; out.Err == nil || out.Err.Error() != want || !out.Invalid {
				t.Errorf("order %d without e-mail: %+v, want invalid %q", id, out, want)
			}
			counts["invalid"]++
		default:
			if out.Err != nil || out.Skipped {
				t.Fatalf("order %d: %+v", id, out)
			}
			cents := out.Record["total_cents"]
			if cents != int(math.Round(o.Total*100)) || out.Record["external_id"] != strconv.Itoa(id) || out.Record["country"] != o.Customer.Country {
				t.Errorf("order %d mapped to %v", id, out.Record)
			}
			large := o.Total > 1000
			if large != (out.Destination == "erp_large") {
				t.Errorf("order %d total %v went to %q", id, o.Total, out.Destination)
			}
			if large {
				counts["large"]++
			} else {
				counts["batch"]++
			}
		}
	}
	t.Logf("120 demo orders: %v", counts)
	for _, k := range []string{"skipped", "invalid", "large", "batch"} {
		if counts[k] == 0 {
			t.Errorf("no demo order is %s", k)
		}
	}
}

// ferry demo prints a curl with HookRoute and HookToken: they must be the
// config's webhook route and its token.
func TestConfigHookRoute(t *testing.T) {
	cfg, err := config.Parse(Config("http://a", "http://b"), "", all.Set())
	if err != nil {
		t.Fatal(err)
	}
	rc := cfg.Routes[HookRoute]
	if rc == nil || rc.Webhook == nil || rc.Webhook.Token != HookToken || rc.Webhook.Respond != config.RespondSync {
		t.Fatalf("route %s: %+v", HookRoute, rc)
	}
	for _, name := range []string{"orders", "stock"} {
		if _, ok := cfg.Routes[name].Trigger(); !ok {
			t.Errorf("route %s has no schedule", name)
		}
	}
}
