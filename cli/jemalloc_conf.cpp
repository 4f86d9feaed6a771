// Compiled into executables built with SRNAS_ALLOCATOR=jemalloc: jemalloc reads this
// symbol at start-up. Decay off keeps freed pages, as tcmalloc does; the default (return
// dirty pages after 10 s) brings back the page-fault cost that the allocator is there to remove.
extern "C" const char* malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1";
