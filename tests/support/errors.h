// error_of(f): the message of the srnas::Error that f throws. Records a test failure when f
// throws none, or when the message has several lines (errors are one line, naming the file or
// field and what was expected).
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "search_space/error.h"

namespace srnas::testing {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const srnas::Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
    return msg;
  }
  ADD_FAILURE() << "expected srnas::Error";
  return "";
}

}  // namespace srnas::testing
