// huge_page_array.h - a fixed-size, zero-filled array backed by transparent huge pages when the
// kernel offers them.
//
// The order pool and the order index are several MB each and read at random (a cancel lands on
// any live order): with 4 KB pages nearly every such access also misses the TLB and pays a page
// walk. The array is mapped anonymously, aligned to 2 MB and advised MADV_HUGEPAGE so the kernel
// backs it with 2 MB pages (THP "madvise" mode is the common default). When the advice is refused
// (THP disabled, not Linux) the array still works on ordinary pages: the advice is a hint only.
// Every page is touched at construction, so no page fault lands on the hot path.
#ifndef UDPROUTER_ENGINE_HUGE_PAGE_ARRAY_H
#define UDPROUTER_ENGINE_HUGE_PAGE_ARRAY_H

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>

namespace udprouter::engine {

template <class T>
class HugePageArray {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                  "elements are zero-filled and never destroyed one by one");

public:
    static constexpr size_t kHugePage = size_t{2} << 20;

    explicit HugePageArray(size_t count) : count_(count) {
        const size_t bytes = (count == 0 ? 1 : count) * sizeof(T);
        // Arrays under one huge page gain nothing from the advice; map them exactly. Larger ones
        // get one spare huge page so a 2 MB-aligned run of whole huge pages fits inside.
        const bool large = bytes >= kHugePage;
        mapped_bytes_ = large ? round_up(bytes, kHugePage) + kHugePage : round_up(bytes, 4096);
        void* base = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) {
            throw std::bad_alloc();
        }
        mapped_ = static_cast<unsigned char*>(base);
        unsigned char* data = mapped_;
        if (large) {
            data = reinterpret_cast<unsigned char*>(round_up(reinterpret_cast<uintptr_t>(mapped_), kHugePage));
            huge_ = madvise(data, round_up(bytes, kHugePage), MADV_HUGEPAGE) == 0;
        }
        data_ = reinterpret_cast<T*>(data);
        std::memset(static_cast<void*>(data_), 0, bytes); // prefault (anonymous memory is zero already)
    }

    HugePageArray(const HugePageArray&) = delete;
    HugePageArray& operator=(const HugePageArray&) = delete;
    ~HugePageArray() { munmap(mapped_, mapped_bytes_); }

    T& operator[](size_t i) { return data_[i]; }
    const T& operator[](size_t i) const { return data_[i]; }
    T* data() { return data_; }
    const T* data() const { return data_; }
    size_t size() const { return count_; }

    // Whether the kernel accepted the huge-page advice (for tests and benchmark reports).
    bool huge_pages_advised() const { return huge_; }

private:
    static size_t round_up(size_t value, size_t to) { return (value + to - 1) / to * to; }

    unsigned char* mapped_ = nullptr;
    size_t mapped_bytes_ = 0;
    T* data_ = nullptr;
    size_t count_;
    bool huge_ = false;
};

} // namespace udprouter::engine

#endif
