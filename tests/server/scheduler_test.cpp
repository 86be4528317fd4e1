// The engine queue: one job at a time in order, the bound, cancelled jobs dropped unrun, a
// failing job not taking the worker down, and shutdown dropping what waits.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/forward/loaded_model.h"
#include "engine/generate/generator.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/scheduler.h"

namespace dsv4::server {
namespace {

using namespace std::chrono_literals;

struct World {
    std::unique_ptr<forward::LoadedModel> model = forward::load_model(
        std::string(DSV4_SOURCE_DIR) + "/tests/golden/dsv4-tiny-s1-iq2xxs.gguf");
    backend::cpu::CpuBackend backend{1};
    generate::Generator generator{*model, backend, tokenizer::Tokenizer::from_gguf(model->file)};
};

// Records what happened to it; run() waits for release() when told to block.
class RecordingJob final : public EngineJob {
  public:
    RecordingJob(std::string name, std::vector<std::string>& journal, std::mutex& mutex)
        : name_(std::move(name)), journal_(journal), mutex_(mutex) {}
    bool blocking = false;
    bool throws = false;
    std::atomic<bool> cancel{false};

    bool cancelled() const override { return cancel.load(); }
    void run(generate::Generator& generator, const std::atomic<bool>& stop_now) override {
        {
            std::unique_lock lock(mutex_);
            journal_.push_back("run " + name_);
            started_ = true;
            changed_.notify_all();
            // stop_now is polled, as a generation polls its cancel flag between tokens.
            while (blocking && !released_ && !stop_now.load()) changed_.wait_for(lock, 5ms);
            if (stop_now.load()) journal_.push_back("stopped " + name_);
        }
        if (throws) throw std::runtime_error("job failed on purpose");
        // A real generation on the worker's engine.
        const std::vector<int32_t> prompt = {0, 5, 6};
        generate::GenerateOptions options;
        options.max_tokens = 1;
        generator.generate(prompt, options);
    }
    void drop(int status, std::string_view reason) override {
        std::lock_guard lock(mutex_);
        journal_.push_back("drop " + name_ + " " + std::to_string(status) + " " +
                           std::string(reason));
    }
    void wait_started() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return started_; });
    }
    void release() {
        std::lock_guard lock(mutex_);
        released_ = true;
        changed_.notify_all();
    }

  private:
    std::string name_;
    std::vector<std::string>& journal_;
    std::mutex& mutex_;
    std::condition_variable changed_;
    bool started_ = false;
    bool released_ = false;
};

class SchedulerTest : public ::testing::Test {
  protected:
    std::shared_ptr<RecordingJob> job(const std::string& name) {
        return std::make_shared<RecordingJob>(name, journal, mutex);
    }
    static void wait_idle(const Scheduler& scheduler) {
        for (int i = 0; i < 2000 && (scheduler.queue_depth() > 0 || scheduler.running_job()); ++i)
            std::this_thread::sleep_for(5ms);
    }
    std::vector<std::string> snapshot() {
        std::lock_guard lock(mutex);
        return journal;
    }
    World world;
    std::mutex mutex;
    std::vector<std::string> journal;
};

TEST_F(SchedulerTest, RunsInOrderAndRefusesBeyondTheQueue) {
    Scheduler scheduler(world.generator, 2);
    auto first = job("first");
    first->blocking = true;
    ASSERT_TRUE(scheduler.try_submit(first));
    first->wait_started();
    ASSERT_TRUE(scheduler.try_submit(job("second")));
    ASSERT_TRUE(scheduler.try_submit(job("third")));
    EXPECT_FALSE(scheduler.try_submit(job("fourth")));  // two already wait
    EXPECT_EQ(scheduler.queue_depth(), 2u);
    EXPECT_TRUE(scheduler.running_job());
    first->release();
    wait_idle(scheduler);
    scheduler.shutdown(10s);
    EXPECT_EQ(snapshot(), (std::vector<std::string>{"run first", "run second", "run third"}));
}

TEST_F(SchedulerTest, CancelledJobsAreDroppedAndFailuresDoNotStopTheWorker) {
    Scheduler scheduler(world.generator, 4);
    auto blocker = job("blocker");
    blocker->blocking = true;
    ASSERT_TRUE(scheduler.try_submit(blocker));
    blocker->wait_started();
    auto gone = job("gone");
    auto failing = job("failing");
    failing->throws = true;
    ASSERT_TRUE(scheduler.try_submit(gone));
    ASSERT_TRUE(scheduler.try_submit(failing));
    ASSERT_TRUE(scheduler.try_submit(job("after")));
    gone->cancel = true;
    blocker->release();
    wait_idle(scheduler);
    scheduler.shutdown(10s);
    EXPECT_EQ(snapshot(), (std::vector<std::string>{
                              "run blocker", "drop gone 499 the client went away while queued",
                              "run failing", "run after"}));
}

TEST_F(SchedulerTest, ShutdownDropsWaitingJobsAndStopsTheRunningOneAfterTheGrace) {
    Scheduler scheduler(world.generator, 4);
    auto running = job("running");
    running->blocking = true;
    ASSERT_TRUE(scheduler.try_submit(running));
    running->wait_started();
    ASSERT_TRUE(scheduler.try_submit(job("waiting")));
    scheduler.shutdown(50ms);
    EXPECT_FALSE(scheduler.try_submit(job("late")));
    EXPECT_EQ(snapshot(),
              (std::vector<std::string>{"run running", "drop waiting 503 server shutting down",
                                        "stopped running"}));
}

}  // namespace
}  // namespace dsv4::server
