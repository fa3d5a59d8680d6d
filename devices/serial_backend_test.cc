#include "devices/serial_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>

#include "base/scoped_fd.h"
#include "devices/backend_test_util.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Waits (without a timeout: the test never depends on timing) until the
// back-end's input fd is readable or hung up.
void WaitReadable(const SerialBackend& b) {
  pollfd p{.fd = b.input_fd(), .events = POLLIN, .revents = 0};
  ASSERT_GE(p.fd, 0);
  ASSERT_EQ(::poll(&p, 1, -1), 1);
}

std::string ReadNow(SerialBackend& b, size_t max) {
  std::string out(max, '\0');
  absl::StatusOr<size_t> n =
      b.ReadAvailable({reinterpret_cast<uint8_t*>(out.data()), out.size()});
  EXPECT_TRUE(n.ok()) << n.status();
  out.resize(n.ok() ? *n : 0);
  return out;
}

TEST(SerialBackendTest, OutputToFileAndNoInput) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.File("out.txt");
  auto b = OpenSerialBackend({.output = "file:" + path, .input = ""});
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*b)->Write(Bytes("hello ")).ok());
  ASSERT_TRUE((*b)->Write(Bytes("world")).ok());
  EXPECT_EQ(Slurp(path), "hello world");
  EXPECT_TRUE((*b)->input_closed());
  EXPECT_EQ((*b)->input_fd(), -1);
  EXPECT_EQ(ReadNow(**b, 8), "");
}

TEST(SerialBackendTest, OutputFileIsTruncatedAndNullDiscards) {
  ScratchDir dir;
  const std::string path = dir.File("out.txt");
  std::ofstream(path) << "old contents";
  {
    auto b = OpenSerialBackend({.output = "file:" + path, .input = ""});
    ASSERT_TRUE(b.ok()) << b.status();
  }
  EXPECT_EQ(Slurp(path), "");
  auto null = OpenSerialBackend({.output = "null", .input = ""});
  ASSERT_TRUE(null.ok());
  EXPECT_TRUE((*null)->Write(Bytes("gone")).ok());
}

TEST(SerialBackendTest, BadSpecsAndPathsAreNamedInErrors) {
  auto bad_out = OpenSerialBackend({.output = "tcp:1234", .input = ""});
  ASSERT_FALSE(bad_out.ok());
  EXPECT_NE(std::string(bad_out.status().message()).find("tcp:1234"),
            std::string::npos);
  auto bad_in = OpenSerialBackend({.output = "null", .input = "pipe:x"});
  ASSERT_FALSE(bad_in.ok());
  EXPECT_NE(std::string(bad_in.status().message()).find("pipe:x"),
            std::string::npos);
  auto missing_dir = OpenSerialBackend(
      {.output = "file:/nonexistent-xv/dir/out", .input = ""});
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_NE(std::string(missing_dir.status().message())
                .find("/nonexistent-xv/dir/out"),
            std::string::npos);
  auto missing_in =
      OpenSerialBackend({.output = "null", .input = "file:/nonexistent-xv"});
  ASSERT_FALSE(missing_in.ok());
  EXPECT_TRUE(absl::IsNotFound(missing_in.status()));
  EXPECT_NE(std::string(missing_in.status().message()).find("/nonexistent-xv"),
            std::string::npos);
  auto no_socket = OpenSerialBackend(
      {.output = "null", .input = "unix:/nonexistent-xv.sock"});
  ASSERT_FALSE(no_socket.ok());
  EXPECT_NE(
      std::string(no_socket.status().message()).find("/nonexistent-xv.sock"),
      std::string::npos);
  EXPECT_FALSE(OpenSerialBackend({.output = "file:", .input = ""}).ok());
}

TEST(SerialBackendTest, RegularFileInputReachesEndOfFile) {
  ScratchDir dir;
  const std::string path = dir.File("in.txt");
  std::ofstream(path) << "abc";
  auto b = OpenSerialBackend({.output = "null", .input = "file:" + path});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE((*b)->input_closed());
  EXPECT_GE((*b)->input_fd(), 0);
  EXPECT_EQ(ReadNow(**b, 2), "ab");
  EXPECT_EQ(ReadNow(**b, 0), "");  // an empty buffer reads nothing
  EXPECT_EQ(ReadNow(**b, 8), "c");
  EXPECT_FALSE((*b)->input_closed());
  EXPECT_EQ(ReadNow(**b, 8), "");
  EXPECT_TRUE((*b)->input_closed());
  EXPECT_EQ((*b)->input_fd(), -1);
}

TEST(SerialBackendTest, FifoInputIsNonBlockingAndSeesTheWriterLeave) {
  ScratchDir dir;
  const std::string path = dir.File("fifo");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  std::promise<void> may_close;
  std::thread writer([&path, closed = may_close.get_future()]() mutable {
    ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::write(fd.get(), "xy", 2), 2);
    closed.wait();
  });
  auto b = OpenSerialBackend({.output = "null", .input = "file:" + path});
  ASSERT_TRUE(b.ok()) << b.status();
  std::string got;
  while (got.size() < 2) {
    WaitReadable(**b);
    got += ReadNow(**b, 8);
  }
  EXPECT_EQ(got, "xy");
  // The writer is still there: nothing to read, and no blocking.
  EXPECT_EQ(ReadNow(**b, 8), "");
  EXPECT_FALSE((*b)->input_closed());
  may_close.set_value();
  writer.join();
  WaitReadable(**b);
  EXPECT_EQ(ReadNow(**b, 8), "");
  EXPECT_TRUE((*b)->input_closed());
}

TEST(SerialBackendTest, UnixSocketInput) {
  ScratchDir dir("/tmp");
  const std::string path = dir.File("serial.sock");
  ScopedFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  ASSERT_EQ(
      ::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
      0);
  ASSERT_EQ(::listen(listener.get(), 1), 0);

  auto b = OpenSerialBackend({.output = "null", .input = "unix:" + path});
  ASSERT_TRUE(b.ok()) << b.status();
  ScopedFd peer(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(peer.valid());
  EXPECT_EQ(ReadNow(**b, 8), "");  // nothing yet, no blocking
  ASSERT_EQ(::write(peer.get(), "hi!", 3), 3);
  std::string got;
  while (got.size() < 3) {
    WaitReadable(**b);
    got += ReadNow(**b, 8);
  }
  EXPECT_EQ(got, "hi!");
  peer.Reset();
  WaitReadable(**b);
  EXPECT_EQ(ReadNow(**b, 8), "");
  EXPECT_TRUE((*b)->input_closed());
}

TEST(SerialBackendTest, StdinInputThroughAPipe) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  ScopedFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  ScopedFd saved_stdin(::dup(STDIN_FILENO));
  ASSERT_EQ(::dup2(read_end.get(), STDIN_FILENO), STDIN_FILENO);
  {
    auto b = OpenSerialBackend({.output = "null", .input = "stdin"});
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ((*b)->input_fd(), STDIN_FILENO);
    EXPECT_EQ(ReadNow(**b, 8), "");
    ASSERT_EQ(::write(write_end.get(), "k", 1), 1);
    WaitReadable(**b);
    EXPECT_EQ(ReadNow(**b, 8), "k");
    write_end.Reset();
    WaitReadable(**b);
    EXPECT_EQ(ReadNow(**b, 8), "");
    EXPECT_TRUE((*b)->input_closed());
  }
  // The back-end borrowed stdin: it must not have closed it.
  ASSERT_EQ(::dup2(saved_stdin.get(), STDIN_FILENO), STDIN_FILENO);
  EXPECT_NE(::fcntl(STDIN_FILENO, F_GETFD), -1);
}

}  // namespace
}  // namespace xv
