package config

// Internal helpers the external tests (package config_test) use.
var (
	YAMLFields = yamlFields
	JoinPath   = joinPath
	IndexPath  = indexPath
)
