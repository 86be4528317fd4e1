// The daemon's tool memory: tool-call id -> the exact DSML block the model sampled, so that a
// client sending the calls back gets them rendered byte for byte and the prefix stays cached.
// Bounded (least recently used out) and thread-safe; must not render or parse DSML.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/chat/render.h"

namespace dsv4::server {

class ToolRegistry final : public chat::ToolReplay {
  public:
    explicit ToolRegistry(size_t capacity_entries) : capacity_(capacity_entries) {}

    // Every id of one assistant turn maps to that turn's block.
    void remember(const std::vector<std::string>& call_ids, const std::string& dsml);
    std::optional<chat::ReplayBlock> find(std::string_view call_id) override;
    size_t size() const;

  private:
    struct Entry {
        std::string id;
        std::shared_ptr<const std::string> dsml;
    };
    const size_t capacity_;
    mutable std::mutex mutex_;
    std::list<Entry> recency_;  // most recent first
    std::unordered_map<std::string, std::list<Entry>::iterator> by_id_;
};

}  // namespace dsv4::server
