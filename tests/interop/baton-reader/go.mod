module confluence-connector/tests/interop/baton-reader

// Same Go version and baton-sdk version as the standalone baton CLI
// (github.com/ConductorOne/baton go.mod, which vendors baton-sdk v0.7.27).
go 1.25.2

require (
	github.com/conductorone/baton-sdk v0.7.27
	google.golang.org/protobuf v1.36.10 // indirect
)
