#include "server/tool_registry.h"

namespace dsv4::server {

void ToolRegistry::remember(const std::vector<std::string>& call_ids, const std::string& dsml) {
    if (call_ids.empty() || dsml.empty() || capacity_ == 0) return;
    const auto shared = std::make_shared<const std::string>(dsml);
    std::lock_guard lock(mutex_);
    for (const std::string& id : call_ids) {
        if (auto found = by_id_.find(id); found != by_id_.end()) {
            recency_.erase(found->second);
            by_id_.erase(found);
        }
        recency_.push_front(Entry{id, shared});
        by_id_[id] = recency_.begin();
        while (recency_.size() > capacity_) {
            by_id_.erase(recency_.back().id);
            recency_.pop_back();
        }
    }
}

std::optional<chat::ReplayBlock> ToolRegistry::find(std::string_view call_id) {
    std::lock_guard lock(mutex_);
    const auto found = by_id_.find(std::string(call_id));
    if (found == by_id_.end()) return std::nullopt;
    recency_.splice(recency_.begin(), recency_, found->second);
    return chat::ReplayBlock{*found->second->dsml, chat::ReplaySource::Memory};
}

size_t ToolRegistry::size() const {
    std::lock_guard lock(mutex_);
    return by_id_.size();
}

}  // namespace dsv4::server
