// Package all lists every connector kind ferry is built with: the one
// place that names them, so adding a kind is a folder plus one line here.
package all

import (
	"fmt"

	"github.com/ferry-dev/ferry/internal/connector"
	fileconn "github.com/ferry-dev/ferry/internal/connector/file"
	httpconn "github.com/ferry-dev/ferry/internal/connector/http"
	"github.com/ferry-dev/ferry/internal/connector/rabbitmq"
	sqlconn "github.com/ferry-dev/ferry/internal/connector/sql"
)

// Kinds returns every kind, each built afresh.
func Kinds() []connector.Kind {
	return append([]connector.Kind{
		fileconn.Kind(),
		httpconn.Kind(),
		rabbitmq.Kind(),
	}, sqlconn.Kinds()...)
}

// Set returns the kinds as a Set. The list is fixed at build time, so an
// error here is a programming mistake (two kinds of one name), caught by
// this package's tests.
func Set() *connector.Set {
	s, err := connector.NewSet(Kinds()...)
	if err != nil {
		panic(fmt.Sprintf("connector kinds: %v", err))
	}
	return s
}
