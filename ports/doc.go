// Package ports declares the interfaces a hexagonal service depends on:
// [Connector], [SQLStore], [Transactor], [DocStore], [Cache], [Publisher] and
// [Subscriber], the portable [Query] language shared by both stores, the
// [Message] type, the [Document] base type for document models, and the
// sentinel errors every implementation maps its failures to.
//
// The package imports only the standard library. Application code imports
// ports and nothing else of portkit; main wires an adapter (package
// adapters/...) or an in-memory fake (package fakes) behind each port.
//
// Every implementation in portkit passes the conformance suites of package
// ports/portstest, so a test that passes on a fake means something on the
// real backend.
package ports
