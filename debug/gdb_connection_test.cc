// The connection's side of the protocol against a scripted client: acks and
// nacks both ways, resends and their bound, no-ack mode, interrupts while
// the target runs (without losing a packet), and every way a client can go
// away. Most cases use a socketpair; the listener uses real loopback TCP.
#include "debug/gdb_connection.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/scoped_fd.h"
#include "debug/gdb_packet.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

using Kind = PacketEvent::Kind;

void Write(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << std::strerror(errno);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// Everything the client has received within `wait_ms`.
std::string ReadAvailable(int fd, int wait_ms = 200) {
  std::string data;
  while (true) {
    pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, wait_ms) <= 0) return data;
    char buffer[4096];
    const ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n <= 0) return data;
    data.append(buffer, static_cast<size_t>(n));
    wait_ms = 20;
  }
}

class GdbConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    connection_.emplace(ScopedFd(fds[0]));
    client_.Reset(fds[1]);
  }

  GdbConnection& connection() { return *connection_; }
  int client() { return client_.get(); }

  std::optional<GdbConnection> connection_;
  ScopedFd client_;
};

TEST_F(GdbConnectionTest, AcksAGoodPacket) {
  Write(client(), EncodePacket("qSupported:multiprocess+"));
  absl::StatusOr<PacketEvent> event = connection().Next();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(*event, (PacketEvent{Kind::kPacket, "qSupported:multiprocess+"}));
  EXPECT_EQ(ReadAvailable(client()), "+");
}

TEST_F(GdbConnectionTest, NacksABadChecksumAndTakesTheResend) {
  Write(client(), "$g#00");
  Write(client(), EncodePacket("g"));
  absl::StatusOr<PacketEvent> event = connection().Next();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->payload, "g");
  EXPECT_EQ(ReadAvailable(client()), "-+");
}

TEST_F(GdbConnectionTest, StrayAcksAndGarbageAreIgnored) {
  Write(client(), "++-junk" + EncodePacket("?"));
  absl::StatusOr<PacketEvent> event = connection().Next();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->payload, "?");
}

TEST_F(GdbConnectionTest, SendWaitsForTheAck) {
  Write(client(), "+");
  ASSERT_TRUE(connection().Send("OK").ok());
  EXPECT_EQ(ReadAvailable(client()), "$OK#9a");
}

TEST_F(GdbConnectionTest, SendResendsOnNack) {
  Write(client(), "--+");
  ASSERT_TRUE(connection().Send("OK").ok());
  EXPECT_EQ(ReadAvailable(client()), "$OK#9a$OK#9a$OK#9a");
}

TEST_F(GdbConnectionTest, ResendsAreBounded) {
  Write(client(), std::string(GdbConnection::kMaxResends + 1, '-'));
  const absl::Status s = connection().Send("OK");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  std::string sent = ReadAvailable(client());
  EXPECT_EQ(sent.size(), (GdbConnection::kMaxResends + 1) * 6u);
}

TEST_F(GdbConnectionTest, AckTimeout) {
  connection().SetAckTimeout(0.05);
  const absl::Status s = connection().Send("OK");
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
}

TEST_F(GdbConnectionTest, PacketsAndInterruptsWhileWaitingForAnAckAreKept) {
  Write(client(), "\x03" + EncodePacket("g") + "+");
  ASSERT_TRUE(connection().Send("S05").ok());
  // The packet was acknowledged when it arrived.
  EXPECT_EQ(ReadAvailable(client()), "$S05#b8+");
  EXPECT_TRUE(connection().PollInterrupt());
  absl::StatusOr<PacketEvent> event = connection().Next();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->payload, "g");
}

TEST_F(GdbConnectionTest, NoAckMode) {
  connection().SetNoAckMode(true);
  ASSERT_TRUE(connection().Send("OK").ok());
  Write(client(), "$g#00" + EncodePacket("m0,4"));
  absl::StatusOr<PacketEvent> event = connection().Next();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->payload, "m0,4");
  // No `+`, no `-`: just the reply.
  EXPECT_EQ(ReadAvailable(client()), "$OK#9a");
}

TEST_F(GdbConnectionTest, PollInterrupt) {
  EXPECT_FALSE(connection().PollInterrupt());
  Write(client(), "\x03");
  EXPECT_TRUE(connection().PollInterrupt());
  EXPECT_FALSE(connection().PollInterrupt());
}

TEST_F(GdbConnectionTest, PollInterruptKeepsAPacketThatCameInstead) {
  connection().SetNoAckMode(true);
  Write(client(), EncodePacket("qC"));
  EXPECT_FALSE(connection().PollInterrupt());
  Write(client(), "\x03" + EncodePacket("vCont;c"));
  EXPECT_TRUE(connection().PollInterrupt());
  absl::StatusOr<PacketEvent> first = connection().Next();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->payload, "qC");
  absl::StatusOr<PacketEvent> second = connection().Next();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->payload, "vCont;c");
}

TEST_F(GdbConnectionTest, InterruptWhileStoppedComesFromNext) {
  Write(client(), "\x03");
  absl::StatusOr<PacketEvent> event = connection().Next();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->kind, Kind::kInterrupt);
}

TEST_F(GdbConnectionTest, OversizedPacketIsAnAcknowledgedError) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  GdbConnection small(ScopedFd(fds[0]), /*max_packet_size=*/16);
  ScopedFd client(fds[1]);
  Write(client.get(), EncodePacket(std::string(1000, 'x')) + EncodePacket("g"));
  absl::StatusOr<PacketEvent> event = small.Next();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->kind, Kind::kError);
  event = small.Next();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->payload, "g");
  EXPECT_EQ(ReadAvailable(client.get()), "++");
}

TEST_F(GdbConnectionTest, DisconnectBetweenPackets) {
  client_.Reset();
  const absl::StatusOr<PacketEvent> event = connection().Next();
  EXPECT_EQ(event.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(event.status().message().find("gdb client disconnected"),
            absl::string_view::npos)
      << event.status();
  // And from then on, for every operation.
  EXPECT_EQ(connection().Next().status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(connection().Send("OK").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(connection().PollInterrupt());
}

TEST_F(GdbConnectionTest, DisconnectMidPacket) {
  Write(client(), "$m1000,");
  client_.Reset();
  const absl::StatusOr<PacketEvent> event = connection().Next();
  EXPECT_EQ(event.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(event.status().message().find("middle of a packet"),
            absl::string_view::npos)
      << event.status();
}

TEST_F(GdbConnectionTest, PacketsBeforeTheDisconnectAreStillDelivered) {
  connection().SetNoAckMode(true);
  Write(client(), EncodePacket("k"));
  client_.Reset();
  // PollInterrupt sees the end first; the packet still comes out.
  EXPECT_TRUE(connection().PollInterrupt());
  absl::StatusOr<PacketEvent> event = connection().Next();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->payload, "k");
  EXPECT_EQ(connection().Next().status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(GdbConnectionTest, SendToAClosedPeerIsAnErrorNotSigpipe) {
  client_.Reset();
  connection().SetNoAckMode(true);
  const absl::Status s = connection().Send(std::string(100000, 'x'));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

TEST_F(GdbConnectionTest, DisconnectWhileWaitingForAnAck) {
  Write(client(), "$partial");
  client_.Reset();
  const absl::Status s = connection().Send("OK");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

ScopedFd ConnectTo(uint16_t port) {
  ScopedFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address),
              sizeof address) != 0) {
    ADD_FAILURE() << "connect to port " << port << ": " << std::strerror(errno);
  }
  return fd;
}

TEST(GdbListenerTest, LoopbackSession) {
  absl::StatusOr<GdbListener> listener = GdbListener::Listen("127.0.0.1:0");
  ASSERT_TRUE(listener.ok()) << listener.status();
  ASSERT_NE(listener->port(), 0);
  ScopedFd client = ConnectTo(listener->port());
  absl::StatusOr<GdbConnection> connection = listener->Accept(5.0);
  ASSERT_TRUE(connection.ok()) << connection.status();

  Write(client.get(), EncodePacket("QStartNoAckMode"));
  absl::StatusOr<PacketEvent> event = connection->Next();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->payload, "QStartNoAckMode");
  Write(client.get(), "+");
  ASSERT_TRUE(connection->Send("OK").ok());
  connection->SetNoAckMode(true);
  EXPECT_EQ(ReadAvailable(client.get()), "+$OK#9a");

  ASSERT_TRUE(connection->Send("S05").ok());
  EXPECT_EQ(ReadAvailable(client.get()), "$S05#b8");

  client.Reset();
  EXPECT_EQ(connection->Next().status().code(), absl::StatusCode::kUnavailable);
}

TEST(GdbListenerTest, AddressIsWhatGdbConnectsTo) {
  absl::StatusOr<GdbListener> loopback = GdbListener::Listen(":0");
  ASSERT_TRUE(loopback.ok()) << loopback.status();
  EXPECT_EQ(loopback->address(),
            "127.0.0.1:" + std::to_string(loopback->port()));
}

TEST(GdbListenerTest, PortSpellings) {
  for (std::string_view spec : {":0", "0", "localhost:0"}) {
    absl::StatusOr<GdbListener> listener = GdbListener::Listen(spec);
    ASSERT_TRUE(listener.ok()) << spec << ": " << listener.status();
    EXPECT_NE(listener->port(), 0) << spec;
    // No host is loopback.
    ScopedFd client = ConnectTo(listener->port());
    EXPECT_TRUE(listener->Accept(5.0).ok()) << spec;
  }
}

TEST(GdbListenerTest, BadSpellings) {
  for (std::string_view spec : {"", ":", "host:", "1234x", "70000", ":123456",
                                "::1:0", "[::1", "[::1]0", "-1"}) {
    const absl::StatusOr<GdbListener> listener = GdbListener::Listen(spec);
    EXPECT_FALSE(listener.ok()) << spec;
    EXPECT_NE(listener.status().message().find(std::string(spec)),
              absl::string_view::npos)
        << listener.status();
  }
}

TEST(GdbListenerTest, PortInUseNamesIt) {
  absl::StatusOr<GdbListener> first = GdbListener::Listen(":0");
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string spec = ":" + std::to_string(first->port());
  const absl::StatusOr<GdbListener> second = GdbListener::Listen(spec);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(spec), absl::string_view::npos)
      << second.status();
}

TEST(GdbListenerTest, AcceptTimesOut) {
  absl::StatusOr<GdbListener> listener = GdbListener::Listen(":0");
  ASSERT_TRUE(listener.ok()) << listener.status();
  const absl::StatusOr<GdbConnection> connection = listener->Accept(0.05);
  EXPECT_EQ(connection.status().code(), absl::StatusCode::kDeadlineExceeded)
      << connection.status();
  EXPECT_FALSE(listener->Accept(-1).ok());
}

}  // namespace
}  // namespace xv
