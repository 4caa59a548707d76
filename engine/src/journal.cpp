// journal.cpp - names, durability parsing and directory handling for the journal format.
#include "udprouter/engine/journal.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace udprouter::engine {

std::optional<Durability> parse_durability(std::string_view text)
{
    if (text == "none") return Durability::None;
    if (text == "os") return Durability::Os;
    if (text == "fsync") return Durability::Fsync;
    return std::nullopt;
}

const char *durability_name(Durability durability)
{
    switch (durability) {
    case Durability::None: return "none";
    case Durability::Os: return "os";
    case Durability::Fsync: return "fsync";
    }
    return "unknown";
}

const char *journal_status_name(JournalStatus status)
{
    switch (status) {
    case JournalStatus::Ok: return "ok";
    case JournalStatus::OpenFailed: return "open failed";
    case JournalStatus::WriteFailed: return "write failed";
    case JournalStatus::SyncFailed: return "fdatasync failed";
    case JournalStatus::BadHeader: return "bad file header";
    case JournalStatus::TornTail: return "torn tail";
    case JournalStatus::Corrupt: return "corrupt record";
    case JournalStatus::NotOpen: return "not open";
    }
    return "unknown";
}

static std::string numbered_path(const std::string &dir, const char *prefix, uint64_t number, const char *suffix)
{
    char name[64];
    std::snprintf(name, sizeof(name), "%s%020" PRIu64 "%s", prefix, number, suffix);
    return dir + "/" + name;
}

std::string journal_segment_path(const std::string &dir, uint64_t first_command_seq)
{
    return numbered_path(dir, "journal-", first_command_seq, ".log");
}

std::string snapshot_path(const std::string &dir, uint64_t command_seq)
{
    return numbered_path(dir, "snapshot-", command_seq, ".bin");
}

// Parses "<prefix><20 digits><suffix>"; anything else (tmp files, other names) is not ours.
static std::optional<uint64_t> parse_numbered(std::string_view name, std::string_view prefix, std::string_view suffix)
{
    if (name.size() != prefix.size() + 20 + suffix.size()) return std::nullopt;
    if (name.substr(0, prefix.size()) != prefix || name.substr(prefix.size() + 20) != suffix) return std::nullopt;
    uint64_t value = 0;
    for (char c : name.substr(prefix.size(), 20)) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    return value;
}

bool list_journal_files(const std::string &dir, JournalFileKind kind, std::vector<uint64_t> &numbers)
{
    const bool segment = kind == JournalFileKind::Segment;
    numbers.clear();
    DIR *d = opendir(dir.c_str());
    if (d == nullptr) return false;
    while (dirent *entry = readdir(d)) {
        auto n = parse_numbered(entry->d_name, segment ? "journal-" : "snapshot-", segment ? ".log" : ".bin");
        if (n) numbers.push_back(*n);
    }
    closedir(d);
    std::sort(numbers.begin(), numbers.end());
    return true;
}

std::size_t remove_stale_snapshot_temporaries(const std::string &dir)
{
    std::vector<std::string> stale;
    if (DIR *d = opendir(dir.c_str())) {
        while (dirent *entry = readdir(d))
            if (parse_numbered(entry->d_name, "snapshot-", ".bin.tmp")) stale.push_back(dir + "/" + entry->d_name);
        closedir(d);
    }
    std::size_t removed = 0;
    for (const std::string &path : stale) removed += unlink(path.c_str()) == 0;
    return removed;
}

bool ensure_journal_dir(const std::string &dir)
{
    if (mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) {
        struct stat st {};
        return stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    return false;
}

bool sync_journal_dir(const std::string &dir)
{
    int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

} // namespace udprouter::engine
