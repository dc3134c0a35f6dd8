package config_test

import (
	"strings"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/all"
	httpconn "github.com/ferry-dev/ferry/internal/connector/http"
)

// parse and load use every kind ferry is built with.
func parse(data []byte, file string) (*config.Config, error) {
	return config.Parse(data, file, all.Set())
}

func load(path string) (*config.Config, error) { return config.Load(path, all.Set()) }

// httpSystem is the HTTP config of a system.
func httpSystem(cfg *config.Config, name string) *httpconn.SystemConfig {
	return cfg.Systems[name].Config.(*httpconn.SystemConfig)
}

// kindList names the kinds of role as messages list them.
func kindList(role connector.Role) string {
	var names []string
	for _, k := range all.Set().For(role) {
		names = append(names, k.Name)
	}
	return strings.Join(names, ", ")
}
