package portstest

import "testing"

// TestCache runs the Cache conformance suite.
func TestCache(t *testing.T, newCache func(t *testing.T) CacheSetup) { t.Fatal("TODO") }

// TestSQLStore runs the SQLStore + Transactor conformance suite.
func TestSQLStore(t *testing.T, newStore func(t *testing.T) SQLSetup) { t.Fatal("TODO") }

// TestDocStore runs the DocStore conformance suite.
func TestDocStore(t *testing.T, newStore func(t *testing.T) DocSetup) { t.Fatal("TODO") }

// TestPubSub runs the Publisher + Subscriber conformance suite.
func TestPubSub(t *testing.T, newPubSub func(t *testing.T) PubSubSetup) { t.Fatal("TODO") }

// TestConnector runs the Connector conformance suite.
func TestConnector(t *testing.T, newConn func(t *testing.T) ConnectorSetup) { t.Fatal("TODO") }
