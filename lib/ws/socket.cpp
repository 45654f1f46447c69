#include <algorithm>

#include "ws/session.hpp"

namespace zuperior::ws {

socket::socket(session* s, std::string id, std::string nsp, json auth)
    : session_(s),
      worker_(s ? s->worker_index() : 0),
      id_(std::move(id)),
      nsp_(std::move(nsp)),
      auth_(std::move(auth)) {}

const std::string& socket::client_ip() const {
  static const std::string none;
  return session_ ? session_->client_ip() : none;
}

std::string socket::cookie(std::string_view name) const {
  if (!session_) return {};
  std::string_view c = session_->cookies();
  while (!c.empty()) {
    const auto semi = c.find(';');
    std::string_view part = c.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    const auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
    if (semi == std::string_view::npos) break;
    c = c.substr(semi + 1);
  }
  return {};
}

void socket::emit(std::string_view event, json args) {
  if (!session_) return;
  sio_packet p;
  p.type = sio_type::event;
  p.nsp = nsp_;
  json data = json::array();
  data.push_back(std::string(event));
  if (args.is_array()) {
    for (auto& a : args) data.push_back(std::move(a));
  } else {
    data.push_back(std::move(args));
  }
  p.data = std::move(data);
  session_->send_sio(p);
}

void socket::ack(std::uint64_t id, json args) {
  if (!session_) return;
  sio_packet p;
  p.type = sio_type::ack;
  p.nsp = nsp_;
  p.id = id;
  p.data = args.is_array() ? std::move(args) : json::array({std::move(args)});
  session_->send_sio(p);
}

void socket::send_shared(const std::shared_ptr<const std::string>& frame, std::uint64_t conflate_key,
                         std::int64_t ts_us) {
  if (!session_) return;
  session_->enqueue_shared(frame, conflate_key, ts_us);
}

void socket::join(const std::string& room) {
  if (!session_ || in(room)) return;
  auto& members = session_->worker().rooms[room].members;
  rooms_.push_back(room);
  room_pos_.push_back(static_cast<std::uint32_t>(members.size()));
  members.push_back(this);
  session_->srv().owner.stats().subscriptions++;
}

void socket::leave(const std::string& room) {
  if (!session_) return;
  auto it = std::find(rooms_.begin(), rooms_.end(), room);
  if (it == rooms_.end()) return;
  const auto idx = static_cast<std::size_t>(it - rooms_.begin());
  const std::uint32_t pos = room_pos_[idx];
  const std::string name = std::move(*it);  // `room` may be that very entry
  rooms_.erase(it);
  room_pos_.erase(room_pos_.begin() + static_cast<std::ptrdiff_t>(idx));
  auto& rooms = session_->worker().rooms;
  if (auto r = rooms.find(name); r != rooms.end()) {
    // The last member takes this one's place. (Its recorded place is always right; were it not,
    // a search keeps a stale pointer out of the room.)
    auto& members = r->second.members;
    std::size_t at = pos;
    if (at >= members.size() || members[at] != this)
      at = static_cast<std::size_t>(std::find(members.begin(), members.end(), this) - members.begin());
    if (at < members.size()) {
      members[at] = members.back();
      members.pop_back();
      if (at < members.size()) members[at]->moved_in(name, static_cast<std::uint32_t>(at));
    }
    if (members.empty()) rooms.erase(r);
  }
  session_->srv().owner.stats().subscriptions--;
}

void socket::moved_in(const std::string& room, std::uint32_t pos) {
  auto it = std::find(rooms_.begin(), rooms_.end(), room);
  if (it != rooms_.end()) room_pos_[static_cast<std::size_t>(it - rooms_.begin())] = pos;
}

bool socket::in(const std::string& room) const { return std::find(rooms_.begin(), rooms_.end(), room) != rooms_.end(); }

std::uint64_t socket::room_frames(const std::string& room) const {
  if (!session_) return 0;
  auto& rooms = session_->worker().rooms;
  auto r = rooms.find(room);
  return r == rooms.end() ? 0 : r->second.frames;
}

void socket::detach_rooms() {
  auto copy = rooms_;
  for (const auto& r : copy) leave(r);
}

void socket::disconnect() {
  if (!session_) return;
  session_->disconnect_socket(shared_from_this());
}

}  // namespace zuperior::ws
