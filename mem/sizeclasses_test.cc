// Invariants of the size-class table and its lookups (mem/sizeclasses.h).
#include "mem/sizeclasses.h"

#include <gtest/gtest.h>

namespace gort::mem {
namespace {

// Go 1.19's generated lookup tables (runtime/sizeclasses.go), transcribed as
// the facts that our compile-time tables must reproduce.
constexpr uint8_t kGoSizeToClass8[] = {
    0,  1,  2,  3,  4,  5,  5,  6,  6,  7,  7,  8,  8,  9,  9,  10, 10, 11, 11,
    12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19, 19, 19, 20,
    20, 20, 20, 21, 21, 21, 21, 22, 22, 22, 22, 23, 23, 23, 23, 24, 24, 24, 24,
    25, 25, 25, 25, 26, 26, 26, 26, 27, 27, 27, 27, 27, 27, 27, 27, 28, 28, 28,
    28, 28, 28, 28, 28, 29, 29, 29, 29, 29, 29, 29, 29, 30, 30, 30, 30, 30, 30,
    30, 30, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 32,
    32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32};
constexpr uint8_t kGoSizeToClass128[] = {
    32, 33, 34, 35, 36, 37, 37, 38, 38, 39, 39, 40, 40, 40, 41, 41, 41, 42,
    43, 43, 44, 44, 44, 44, 44, 45, 45, 45, 45, 45, 45, 46, 46, 46, 46, 47,
    47, 47, 47, 47, 47, 48, 48, 48, 49, 49, 50, 51, 51, 51, 51, 51, 51, 51,
    51, 51, 51, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 53, 53, 54, 54, 54,
    54, 55, 55, 55, 55, 55, 56, 56, 56, 56, 56, 56, 56, 56, 56, 56, 56, 57,
    57, 57, 57, 57, 57, 57, 57, 57, 57, 58, 58, 58, 58, 58, 58, 59, 59, 59,
    59, 59, 59, 59, 59, 59, 59, 59, 59, 59, 59, 59, 59, 60, 60, 60, 60, 60,
    60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 61, 61, 61, 61, 61, 62, 62,
    62, 62, 62, 62, 62, 62, 62, 62, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63,
    63, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65,
    65, 65, 65, 65, 65, 65, 65, 65, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
    66, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67,
    67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67};

// The computed lookup tables equal Go's generated ones entry for entry.
TEST(SizeClasses, LookupTablesMatchGo) {
  using namespace sizeclasses_internal;
  static_assert(sizeof(kGoSizeToClass8) == sizeof(kSizeToClass8.v));
  static_assert(sizeof(kGoSizeToClass128) == sizeof(kSizeToClass128.v));
  for (size_t i = 0; i < sizeof(kGoSizeToClass8); ++i) {
    EXPECT_EQ(kSizeToClass8.v[i], kGoSizeToClass8[i]) << "index " << i;
  }
  for (size_t i = 0; i < sizeof(kGoSizeToClass128); ++i) {
    EXPECT_EQ(kSizeToClass128.v[i], kGoSizeToClass128[i]) << "index " << i;
  }
}

// Sizes grow strictly; every size is a multiple of 8 and, from 32 bytes on,
// of 16; the largest class is kMaxSmallSize.
TEST(SizeClasses, MonotonicAndAligned) {
  EXPECT_EQ(class_size(0), 0u);
  EXPECT_EQ(class_size(kNumSizeClasses - 1), kMaxSmallSize);
  for (int c = 1; c < kNumSizeClasses; ++c) {
    EXPECT_GT(class_size(c), class_size(c - 1)) << "class " << c;
    EXPECT_EQ(class_size(c) % 8, 0u) << "class " << c;
    if (class_size(c) >= 32) EXPECT_EQ(class_size(c) % 16, 0u) << "class " << c;
    EXPECT_GE(class_pages(c), 1u);
    EXPECT_GE(class_objects(c), 1u);
    EXPECT_LE(class_objects(c), kMaxObjectsPerSpan);
  }
  EXPECT_EQ(class_objects(1), kMaxObjectsPerSpan);
}

// Objects of a power-of-two size are naturally aligned: spans start on a
// page boundary and such a size divides the page size or is a multiple of it.
TEST(SizeClasses, PowerOfTwoSizesAreNaturallyAligned) {
  for (int c = 1; c < kNumSizeClasses; ++c) {
    size_t size = class_size(c);
    if ((size & (size - 1)) != 0) continue;
    EXPECT_TRUE(kPageSize % size == 0 || size % kPageSize == 0) << size;
  }
}

// mksizeclasses.go grows a span until its tail (the bytes after the last
// whole object) is at most 1/8 of the span: waste <= 12.5%.
TEST(SizeClasses, TailWasteAtMostOneEighth) {
  for (int c = 1; c < kNumSizeClasses; ++c) {
    size_t span = class_pages(c) * kPageSize;
    size_t tail = span - class_objects(c) * class_size(c);
    EXPECT_LE(tail * 8, span) << "class " << c;
  }
}

// Round trip: every request maps to the smallest class that holds it, and
// a class's own size maps back to that class.
TEST(SizeClasses, SizeToClassIsSmallestFit) {
  for (size_t size = 1; size <= kMaxSmallSize; ++size) {
    int c = size_to_class(size);
    ASSERT_GE(c, 1) << size;
    ASSERT_GE(class_size(c), size) << size;
    ASSERT_LT(class_size(c - 1), size) << size;
  }
  for (int c = 1; c < kNumSizeClasses; ++c) {
    EXPECT_EQ(size_to_class(class_size(c)), c);
  }
  EXPECT_EQ(size_to_class(kMaxSmallSize + 1), 0);
  EXPECT_EQ(size_to_class(size_t{1} << 40), 0);
}

// The magic divisor gives offset / size for every byte offset of a span.
TEST(SizeClasses, MagicDivisionIsExact) {
  for (int c = 1; c < kNumSizeClasses; ++c) {
    size_t span = class_pages(c) * kPageSize;
    for (uintptr_t off = 0; off < span; ++off) {
      ASSERT_EQ(object_index(c, off), off / class_size(c))
          << "class " << c << " offset " << off;
    }
  }
}

TEST(SizeClasses, SpanClassEncoding) {
  for (int c = 0; c < kNumSizeClasses; ++c) {
    for (bool noscan : {false, true}) {
      SpanClass sc = make_span_class(c, noscan);
      EXPECT_LT(sc, kNumSpanClasses);
      EXPECT_EQ(span_class_size_class(sc), c);
      EXPECT_EQ(span_class_noscan(sc), noscan);
      EXPECT_EQ(sc, c * 2 + (noscan ? 1 : 0));  // Go's layout
    }
  }
}

}  // namespace
}  // namespace gort::mem
