// The tool memory: ids of one turn share its block, the least recently used ids go first, and
// concurrent use from HTTP threads and the engine worker is safe.
#include <gtest/gtest.h>

#include <thread>

#include "server/tool_registry.h"

namespace dsv4::server {
namespace {

TEST(ToolRegistry, EveryIdOfATurnMapsToItsBlock) {
    ToolRegistry registry(8);
    registry.remember({"call_a", "call_b"}, "<block one>");
    ASSERT_TRUE(registry.find("call_a"));
    EXPECT_EQ(registry.find("call_a")->dsml, "<block one>");
    EXPECT_EQ(registry.find("call_b")->dsml, "<block one>");
    EXPECT_EQ(registry.find("call_b")->source, chat::ReplaySource::Memory);
    EXPECT_FALSE(registry.find("call_c"));
}

TEST(ToolRegistry, LeastRecentlyUsedIdsAreForgottenFirst) {
    ToolRegistry registry(3);
    registry.remember({"a"}, "A");
    registry.remember({"b"}, "B");
    registry.remember({"c"}, "C");
    ASSERT_TRUE(registry.find("a"));  // a is now the most recent
    registry.remember({"d"}, "D");    // b goes
    EXPECT_EQ(registry.size(), 3u);
    EXPECT_FALSE(registry.find("b"));
    EXPECT_TRUE(registry.find("a"));
    EXPECT_TRUE(registry.find("c"));
    EXPECT_TRUE(registry.find("d"));
    registry.remember({"a"}, "A2");  // remembering again replaces
    EXPECT_EQ(registry.find("a")->dsml, "A2");
    EXPECT_EQ(registry.size(), 3u);
}

TEST(ToolRegistry, ConcurrentUseKeepsTheBound) {
    ToolRegistry registry(64);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&registry, t] {
            for (int i = 0; i < 2000; ++i) {
                const std::string id = "t" + std::to_string(t) + "_" + std::to_string(i);
                registry.remember({id}, "block " + id);
                const auto found = registry.find(id);
                if (found) {
                    EXPECT_EQ(found->dsml, "block " + id);
                }
            }
        });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(registry.size(), 64u);
}

}  // namespace
}  // namespace dsv4::server
