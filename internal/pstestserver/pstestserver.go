// Package pstestserver serves pstest, the in-memory Pub/Sub fake of
// cloud.google.com/go/pubsub/v2, on a TCP port, for developers who want a
// local Pub/Sub without Java (Google's emulator needs it), and for
// portkit's own tests. Clients reach it with PUBSUB_EMULATOR_HOST=host:port
// and any project ID.
//
// pstest alone refuses any request over 4 MiB (gRPC's default receive
// size), so that a message under Google Pub/Sub's 10 MB limit fails there
// and nowhere else. The server of this package raises the limits to the
// service's: it receives requests up to [MaxRequestBytes] (10 MiB) and
// answers a larger publish request as the service does, InvalidArgument
// "Request payload size exceeds the limit".
//
// pstest keeps everything in memory, delivers about one message per stream
// every 10ms (open several streams: PUBSUB_RECEIVE_STREAMS), and accepts
// any project. It is a development and test tool, not a server to deploy.
package pstestserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// MaxRequestBytes is the largest request the service accepts (its error
// says "Request payload size exceeds the limit: 10485760 bytes").
const MaxRequestBytes = 10 << 20

// receiveLimit is the gRPC receive limit of the server: above
// MaxRequestBytes, so that an oversized publish request gets the
// service's answer rather than gRPC's ResourceExhausted.
const receiveLimit = 2 * MaxRequestBytes

// Server is a pstest fake served with the service's request limits.
type Server struct {
	// Addr is the host:port clients dial (PUBSUB_EMULATOR_HOST).
	Addr string

	fake *pstest.Server
	gsrv *grpc.Server
	lis  net.Listener
	once sync.Once
}

// Start listens on addr (host:port; port 0 picks a free one) and serves a
// new pstest fake there, made with opts (pstest's reactors, which tests
// use to inject errors), until Close. It returns an error naming addr when
// it cannot listen.
func Start(addr string, opts ...pstest.ServerReactorOption) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pstestserver: listen on %s: %w", addr, err)
	}
	fake, err := newFake(opts)
	if err != nil {
		_ = lis.Close()
		return nil, err
	}
	gsrv := grpc.NewServer(
		grpc.MaxRecvMsgSize(receiveLimit),
		grpc.ChainUnaryInterceptor(requestLimit),
		grpc.ChainStreamInterceptor(noKeepAlivePings),
	)
	// pstest's own server keeps its 4 MiB limit; the same fake, served
	// again here, gets the service's.
	pubsubpb.RegisterPublisherServer(gsrv, &fake.GServer)
	pubsubpb.RegisterSubscriberServer(gsrv, &fake.GServer)
	pubsubpb.RegisterSchemaServiceServer(gsrv, &fake.GServer)
	s := &Server{Addr: lis.Addr().String(), fake: fake, gsrv: gsrv, lis: lis}
	go func() { _ = gsrv.Serve(lis) }()
	return s, nil
}

// newFake creates the pstest fake on a loopback port of its own, which
// nothing dials; pstest panics when it cannot listen.
func newFake(opts []pstest.ServerReactorOption) (srv *pstest.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			srv, err = nil, fmt.Errorf("pstestserver: start pstest: %v", r)
		}
	}()
	return pstest.NewServerWithAddress("127.0.0.1:0", opts...), nil
}

// Fake returns the pstest server behind s, for its test hooks
// (SetTimeNowFunc, Messages, AddPublishResponse, ...).
func (s *Server) Fake() *pstest.Server { return s.fake }

// Close stops serving and releases the fake; later calls do nothing.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		s.gsrv.Stop()
		_ = s.lis.Close()
		err = s.fake.Close()
	})
	return err
}

// requestLimit answers a publish request over MaxRequestBytes as the
// service does.
func requestLimit(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if pr, ok := req.(*pubsubpb.PublishRequest); ok {
		if n := proto.Size(pr); n > MaxRequestBytes {
			return nil, status.Errorf(codes.InvalidArgument, "Request payload size exceeds the limit: %d bytes.", MaxRequestBytes)
		}
	}
	return handler(ctx, req)
}

// Serve listens on addr (host:port; port 0 picks a free one), serves the
// fake until ctx ends, then stops it and returns nil. It logs one line
// when listening, with the PUBSUB_EMULATOR_HOST value to use, and one when
// stopped. It returns an error when addr cannot be listened on.
func Serve(ctx context.Context, addr string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}
	srv, err := Start(addr)
	if err != nil {
		return err
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "pstest Pub/Sub fake listening",
		slog.String("addr", srv.Addr),
		slog.String("PUBSUB_EMULATOR_HOST", srv.Addr),
		slog.Int("max_request_bytes", MaxRequestBytes))
	<-ctx.Done()
	err = srv.Close()
	logger.LogAttrs(context.WithoutCancel(ctx), slog.LevelInfo, "pstest Pub/Sub fake stopped", slog.String("addr", srv.Addr))
	return err
}

// noKeepAlivePings works around a deadlock of pstest v2.9.0: it answers a
// StreamingPull keep-alive ping (protocol version 1) by sending on the
// stream's message channel while it holds the server's lock
// (pstest/fake.go, handleStreamingPullRequest), which the stream's sender
// needs too; Publish, Subscribe and Close then hang. The client asks for
// version 1 but does not depend on it ("None of the client library code is
// gated on protocolVersion", its own tests say), so the server reads every
// StreamingPullRequest as version 0, whose pings pstest does not answer.
func noKeepAlivePings(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod != pubsubpb.Subscriber_StreamingPull_FullMethodName {
		return handler(srv, ss)
	}
	return handler(srv, version0Stream{ss})
}

// version0Stream reads StreamingPullRequests with protocol version 0.
type version0Stream struct{ grpc.ServerStream }

func (s version0Stream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if req, ok := m.(*pubsubpb.StreamingPullRequest); ok && err == nil {
		req.ProtocolVersion = 0
	}
	return err
}
