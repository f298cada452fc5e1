"""Text banks for the demo generator: small programs in four languages and SQL schemas (written for Sift)."""
from __future__ import annotations

LANGS = ("Python", "JavaScript", "Go", "Rust")
FENCE = {"Python": "python", "JavaScript": "javascript", "Go": "go", "Rust": "rust"}

# task -> (ways to ask, what it does, complexity, {language: code})
CODE_TASKS = {
    "reverse_string": (
        ["reverses a string", "returns the characters of a string in reverse order"],
        "It walks the characters from the end to the start, so multi-byte characters stay intact.",
        "O(n) time and O(n) extra space for the new string",
        {
            "Python": 'def reverse_string(s: str) -> str:\n    return s[::-1]',
            "JavaScript": 'function reverseString(s) {\n  return [...s].reverse().join("");\n}',
            "Go": 'func ReverseString(s string) string {\n\tr := []rune(s)\n'
                  '\tfor i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {\n\t\tr[i], r[j] = r[j], r[i]\n\t}\n'
                  '\treturn string(r)\n}',
            "Rust": 'fn reverse_string(s: &str) -> String {\n    s.chars().rev().collect()\n}',
        }),
    "is_palindrome": (
        ["checks whether a phrase is a palindrome, ignoring case and punctuation",
         "tells if a string reads the same forwards and backwards (letters and digits only)"],
        "It keeps only letters and digits, lower-cases them and compares the sequence with its reverse.",
        "O(n) time and O(n) extra space",
        {
            "Python": 'def is_palindrome(text: str) -> bool:\n    cleaned = [c.lower() for c in text if c.isalnum()]\n'
                      '    return cleaned == cleaned[::-1]',
            "JavaScript": 'function isPalindrome(text) {\n  const cleaned = text.toLowerCase().replace(/[^a-z0-9]/g, "");\n'
                          '  return cleaned === [...cleaned].reverse().join("");\n}',
            "Go": 'func IsPalindrome(text string) bool {\n\tvar cleaned []rune\n'
                  '\tfor _, c := range strings.ToLower(text) {\n'
                  '\t\tif unicode.IsLetter(c) || unicode.IsDigit(c) {\n\t\t\tcleaned = append(cleaned, c)\n\t\t}\n\t}\n'
                  '\tfor i, j := 0, len(cleaned)-1; i < j; i, j = i+1, j-1 {\n'
                  '\t\tif cleaned[i] != cleaned[j] {\n\t\t\treturn false\n\t\t}\n\t}\n\treturn true\n}',
            "Rust": 'fn is_palindrome(text: &str) -> bool {\n    let cleaned: Vec<char> = text\n        .chars()\n'
                    '        .filter(|c| c.is_alphanumeric())\n        .flat_map(|c| c.to_lowercase())\n'
                    '        .collect();\n    cleaned.iter().eq(cleaned.iter().rev())\n}',
        }),
    "sum_even": (
        ["returns the sum of the even numbers in a list", "adds up every even integer in an array"],
        "It filters the even values (remainder 0 when divided by 2) and sums them; an empty list gives 0.",
        "O(n) time and O(1) extra space",
        {
            "Python": 'def sum_even(numbers: list[int]) -> int:\n    return sum(n for n in numbers if n % 2 == 0)',
            "JavaScript": 'function sumEven(numbers) {\n  return numbers.filter((n) => n % 2 === 0).reduce((a, b) => a + b, 0);\n}',
            "Go": 'func SumEven(numbers []int) int {\n\ttotal := 0\n\tfor _, n := range numbers {\n'
                  '\t\tif n%2 == 0 {\n\t\t\ttotal += n\n\t\t}\n\t}\n\treturn total\n}',
            "Rust": 'fn sum_even(numbers: &[i64]) -> i64 {\n    numbers.iter().filter(|n| *n % 2 == 0).sum()\n}',
        }),
    "factorial": (
        ["computes the factorial of a non-negative integer", "returns n! for a given n"],
        "It multiplies the numbers from 2 to n; 0! and 1! are both 1.",
        "O(n) multiplications and O(1) extra space",
        {
            "Python": 'def factorial(n: int) -> int:\n    if n < 0:\n        raise ValueError("n must be non-negative")\n'
                      '    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result',
            "JavaScript": 'function factorial(n) {\n  if (n < 0) throw new RangeError("n must be non-negative");\n'
                          '  let result = 1n;\n  for (let i = 2n; i <= BigInt(n); i++) result *= i;\n  return result;\n}',
            "Go": 'func Factorial(n uint64) uint64 {\n\tresult := uint64(1)\n\tfor i := uint64(2); i <= n; i++ {\n'
                  '\t\tresult *= i\n\t}\n\treturn result\n}',
            "Rust": 'fn factorial(n: u64) -> u64 {\n    (2..=n).product()\n}',
        }),
    "fizzbuzz": (
        ["prints FizzBuzz from 1 to n", "returns the FizzBuzz sequence up to n as a list of strings"],
        "Multiples of 15 become FizzBuzz, multiples of 3 Fizz, multiples of 5 Buzz, and other numbers stay as they are.",
        "O(n) time and O(n) space for the output",
        {
            "Python": 'def fizzbuzz(n: int) -> list[str]:\n    out = []\n    for i in range(1, n + 1):\n'
                      '        if i % 15 == 0:\n            out.append("FizzBuzz")\n        elif i % 3 == 0:\n'
                      '            out.append("Fizz")\n        elif i % 5 == 0:\n            out.append("Buzz")\n'
                      '        else:\n            out.append(str(i))\n    return out',
            "JavaScript": 'function fizzBuzz(n) {\n  const out = [];\n  for (let i = 1; i <= n; i++) {\n'
                          '    if (i % 15 === 0) out.push("FizzBuzz");\n    else if (i % 3 === 0) out.push("Fizz");\n'
                          '    else if (i % 5 === 0) out.push("Buzz");\n    else out.push(String(i));\n  }\n'
                          '  return out;\n}',
            "Go": 'func FizzBuzz(n int) []string {\n\tout := make([]string, 0, n)\n\tfor i := 1; i <= n; i++ {\n'
                  '\t\tswitch {\n\t\tcase i%15 == 0:\n\t\t\tout = append(out, "FizzBuzz")\n\t\tcase i%3 == 0:\n'
                  '\t\t\tout = append(out, "Fizz")\n\t\tcase i%5 == 0:\n\t\t\tout = append(out, "Buzz")\n'
                  '\t\tdefault:\n\t\t\tout = append(out, strconv.Itoa(i))\n\t\t}\n\t}\n\treturn out\n}',
            "Rust": 'fn fizzbuzz(n: u32) -> Vec<String> {\n    (1..=n)\n        .map(|i| match (i % 3, i % 5) {\n'
                    '            (0, 0) => "FizzBuzz".to_string(),\n            (0, _) => "Fizz".to_string(),\n'
                    '            (_, 0) => "Buzz".to_string(),\n            _ => i.to_string(),\n        })\n'
                    '        .collect()\n}',
        }),
    "word_frequencies": (
        ["counts how often each word appears in a text", "builds a word-frequency table from a string"],
        "It lower-cases the text, splits it on whitespace and counts each word in a hash map.",
        "O(n) time in the length of the text and O(k) space for k distinct words",
        {
            "Python": 'from collections import Counter\n\n\ndef word_frequencies(text: str) -> dict[str, int]:\n'
                      '    return dict(Counter(text.lower().split()))',
            "JavaScript": 'function wordFrequencies(text) {\n  const counts = {};\n'
                          '  for (const w of text.toLowerCase().split(/\\s+/).filter(Boolean)) {\n'
                          '    counts[w] = (counts[w] || 0) + 1;\n  }\n  return counts;\n}',
            "Go": 'func WordFrequencies(text string) map[string]int {\n\tcounts := make(map[string]int)\n'
                  '\tfor _, w := range strings.Fields(strings.ToLower(text)) {\n\t\tcounts[w]++\n\t}\n\treturn counts\n}',
            "Rust": 'use std::collections::HashMap;\n\nfn word_frequencies(text: &str) -> HashMap<String, usize> {\n'
                    '    let mut counts = HashMap::new();\n    for w in text.split_whitespace() {\n'
                    '        *counts.entry(w.to_lowercase()).or_insert(0) += 1;\n    }\n    counts\n}',
        }),
    "fibonacci": (
        ["returns the n-th Fibonacci number", "computes Fibonacci numbers iteratively"],
        "It keeps the last two values and advances them n times, which avoids the exponential cost of naive recursion.",
        "O(n) time and O(1) extra space",
        {
            "Python": 'def fibonacci(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n'
                      '    return a',
            "JavaScript": 'function fibonacci(n) {\n  let a = 0, b = 1;\n  for (let i = 0; i < n; i++) [a, b] = [b, a + b];\n'
                          '  return a;\n}',
            "Go": 'func Fibonacci(n int) int {\n\ta, b := 0, 1\n\tfor i := 0; i < n; i++ {\n\t\ta, b = b, a+b\n\t}\n'
                  '\treturn a\n}',
            "Rust": 'fn fibonacci(n: u32) -> u64 {\n    let (mut a, mut b) = (0u64, 1u64);\n    for _ in 0..n {\n'
                    '        (a, b) = (b, a + b);\n    }\n    a\n}',
        }),
    "dedupe": (
        ["removes duplicates from a list while keeping the original order",
         "returns the unique items of a list in first-seen order"],
        "A set remembers what has been seen; an item is kept only the first time it appears.",
        "O(n) expected time and O(n) extra space",
        {
            "Python": 'def dedupe(items: list) -> list:\n    seen = set()\n    out = []\n    for x in items:\n'
                      '        if x not in seen:\n            seen.add(x)\n            out.append(x)\n    return out',
            "JavaScript": 'function dedupe(items) {\n  return [...new Set(items)];\n}',
            "Go": 'func Dedupe(items []string) []string {\n\tseen := make(map[string]bool)\n\tout := []string{}\n'
                  '\tfor _, x := range items {\n\t\tif !seen[x] {\n\t\t\tseen[x] = true\n\t\t\tout = append(out, x)\n'
                  '\t\t}\n\t}\n\treturn out\n}',
            "Rust": 'use std::collections::HashSet;\n\nfn dedupe(items: &[String]) -> Vec<String> {\n'
                    '    let mut seen = HashSet::new();\n'
                    '    items.iter().filter(|x| seen.insert((*x).clone())).cloned().collect()\n}',
        }),
}

CODE_ASK = [
    "Write a {lang} function that {what}.",
    "How do I write a function in {lang} that {what}?",
    "Implement a {lang} function that {what}. Keep it short.",
    "I need a {lang} helper that {what}. Can you write it?",
    "Show me idiomatic {lang} code for a function that {what}.",
    "Please write a function that {what}, in {lang}, and explain how it works.",
]
CODE_FOLLOW = [
    ("What is the time and space complexity?", "The function runs in {complexity}."),
    ("Why did you choose this approach?", "{explain} It is simple to read and has no hidden costs: {complexity}."),
    ("Could you explain it in one sentence?", "{explain}"),
]

# SQL: table -> (entity words, {column: kind}); kinds: text, num (lo, hi), cat [values], date
SQL_TABLES = {
    "employees": ("employees", {"id": "id", "name": "text", "department": ["Sales", "Engineering", "Support", "Finance"],
                                "salary": (30000, 150000), "hire_date": "date", "city": ["Berlin", "Lyon", "Austin", "Osaka"]}),
    "products": ("products", {"id": "id", "name": "text", "category": ["Books", "Garden", "Toys", "Kitchen"],
                              "price": (2, 900), "stock": (0, 500), "added_on": "date"}),
    "customers": ("customers", {"id": "id", "name": "text", "email": "text",
                                "country": ["Canada", "Mexico", "Spain", "Japan", "Kenya"], "signup_date": "date",
                                "lifetime_value": (0, 20000)}),
    "orders": ("orders", {"id": "id", "customer_id": "id", "total": (5, 2500),
                          "status": ["pending", "shipped", "delivered", "returned"], "created_at": "date"}),
}
