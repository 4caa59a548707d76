/*
 * ring_shm.h - POSIX shared memory and eventfd plumbing for the ring segment, written once for the
 * engine (C++) and the cffi module (C), so Python needs neither multiprocessing.shared_memory nor
 * its own mmap bookkeeping. Functions return a mapping (or fd) and report failures as errno values.
 * shm_open sets FD_CLOEXEC itself. Needs POSIX 2008 declarations (gnu11, or _POSIX_C_SOURCE).
 */
#ifndef UDPROUTER_ENGINE_RING_SHM_H
#define UDPROUTER_ENGINE_RING_SHM_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a new shm object `name` ("/..."), sizes it and maps it read-write. Fails with EEXIST if
 * the name is taken: a segment is never silently shared with a stale one. NULL on failure. */
static inline void *udr_shm_create(const char *name, size_t size, int *err)
{
    void *base;
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    *err = 0;
    if (fd < 0) { *err = errno; return NULL; }
    if (ftruncate(fd, (off_t)size) != 0) {
        *err = errno;
        close(fd);
        shm_unlink(name);
        return NULL;
    }
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) { *err = errno; base = NULL; shm_unlink(name); }
    close(fd);
    return base;
}

/* Maps an existing shm object whole; *size receives its size. NULL on failure. */
static inline void *udr_shm_attach(const char *name, size_t *size, int *err)
{
    struct stat st;
    void *base;
    int fd = shm_open(name, O_RDWR, 0);
    *err = 0;
    *size = 0;
    if (fd < 0) { *err = errno; return NULL; }
    if (fstat(fd, &st) != 0) { *err = errno; close(fd); return NULL; }
    if (st.st_size == 0) { *err = ENODATA; close(fd); return NULL; }
    base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) { *err = errno; base = NULL; } else { *size = (size_t)st.st_size; }
    close(fd);
    return base;
}

static inline int udr_shm_detach(void *base, size_t size)
{
    return munmap(base, size) == 0 ? 0 : errno;
}

static inline int udr_shm_unlink(const char *name)
{
    return shm_unlink(name) == 0 ? 0 : errno;
}

/* A non-blocking, close-on-exec eventfd (the spawner passes it on explicitly). -errno on failure. */
static inline int udr_eventfd_create(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* UDPROUTER_ENGINE_RING_SHM_H */
