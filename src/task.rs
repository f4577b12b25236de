//! The crate's async plumbing: where futures become JS promises, and JS promises are awaited. The
//! rest of the crate writes plain `async`/`await` on top of three functions: `wait(p).await` for a
//! JS promise, `promise(f)` to hand a future to JS, `spawn(f)` to run one in the background.
//!
//! There is no executor besides the JS microtask queue. A task is polled at once, in the call that
//! starts it, so a call that needs no refresh goes out to `fetch` in the same turn, as a
//! hand-written interceptor would. When it awaits a JS promise, js/support.js's `settle` hands the
//! promise's outcome back, once it settles, to `woken`: one function made once for the page, not a
//! closure per `.await`. `woken` stores the outcome in the promise's slot and polls the task again,
//! in that promise's reaction job. (`wasm-bindgen-futures` queues its tasks and makes two closures
//! per awaited promise: 2.0 KB gzip more, and a microtask hop per call.)
//!
//! A task is polled by one `run` at a time: woken while it is being polled (a throwing `then`), it
//! is polled again when that poll returns. Tasks never wake each other directly, only through JS
//! promises, so a task is not polled inside another's poll except where a JS callback the task calls
//! starts one (a listener calling `fd`), which polls that other task, as a JS call would.
use crate::prelude::*;

use core::cell::{Cell, OnceCell, RefCell};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use alloc::rc::Rc;
use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;

use crate::error::Failure;

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    /// See `js/support.js`: `[promise, settle(ok, value)]`.
    fn deferred() -> Array;
    /// See `js/support.js`: calls `wake(slot, ok, value)` once `promise` settles.
    fn settle(promise: &Promise, slot: u32, wake: &JsValue);
}

type Job = Pin<Box<dyn Future<Output = Result<JsValue, Failure>>>>;

/// A promise of `f`'s result: it resolves with the value, or rejects with the `FdError` (or the
/// foreign rejection) the future failed with. The future runs to its end whoever awaits it.
pub fn promise(f: impl Future<Output = Result<JsValue, Failure>> + 'static) -> Promise {
    start(Box::pin(f))
}

/// Runs `f` to its end in the background.
pub fn spawn(f: impl Future<Output = ()> + 'static) {
    // Nobody awaits the promise, which resolves with `undefined`.
    let _ = start(Box::pin(async move {
        f.await;
        Ok(JsValue::UNDEFINED)
    }));
}

/// Awaits a JS promise: its value, or what it rejected with.
pub fn wait(promise: Promise) -> Wait {
    Wait {
        promise: Some(promise),
        slot: None,
    }
}

struct Task {
    job: RefCell<Option<Job>>,
    /// Whether `run` is polling it, and whether it was woken meanwhile.
    polling: Cell<bool>,
    again: Cell<bool>,
    /// The outcome, when it came in the first poll; else the JS promise's `settle`, which the
    /// outcome is given to.
    outcome: RefCell<Option<Result<JsValue, JsValue>>>,
    settle: RefCell<Option<Function>>,
}

/// Makes a task of `job` and polls it once. The promise of its outcome.
fn start(job: Job) -> Promise {
    let task = Rc::new(Task {
        job: RefCell::new(Some(job)),
        polling: Cell::new(false),
        again: Cell::new(false),
        outcome: RefCell::new(None),
        settle: RefCell::new(None),
    });
    run(&task);
    if let Some(outcome) = task.outcome.take() {
        return match outcome {
            Ok(v) => Promise::resolve(&v),
            Err(e) => Promise::reject(&e),
        };
    }
    // Still running: nothing can poll it again before this returns (a promise settles in a later
    // job), so `settle` is in place before the outcome can come.
    let (promise, settle) = pending();
    *task.settle.borrow_mut() = Some(settle);
    promise
}

/// A JS promise and the function that settles it: `settle(true, value)` resolves it,
/// `settle(false, reason)` rejects it.
pub fn pending() -> (Promise, Function) {
    let pair = deferred();
    (pair.get(0).unchecked_into(), pair.get(1).unchecked_into())
}

/// Polls `task` until it is pending and not woken meanwhile, or done.
fn run(task: &Rc<Task>) {
    if task.polling.replace(true) {
        task.again.set(true);
        return;
    }
    let waker = waker(task);
    let mut cx = Context::from_waker(&waker);
    loop {
        task.again.set(false);
        let polled = match task.job.borrow_mut().as_mut() {
            Some(job) => job.as_mut().poll(&mut cx),
            None => break,
        };
        match polled {
            Poll::Ready(outcome) => {
                *task.job.borrow_mut() = None;
                finish(task, outcome.map_err(JsValue::from));
                break;
            }
            Poll::Pending if task.again.get() => {}
            Poll::Pending => break,
        }
    }
    task.polling.set(false);
}

fn finish(task: &Task, outcome: Result<JsValue, JsValue>) {
    match task.settle.take() {
        Some(settle) => {
            let (ok, value) = match outcome {
                Ok(v) => (true, v),
                Err(e) => (false, e),
            };
            let _ = settle.call2(&JsValue::UNDEFINED, &ok.into(), &value);
        }
        None => *task.outcome.borrow_mut() = Some(outcome),
    }
}

// A `Waker` is an `Rc<Task>`: waking it runs the task.
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

fn waker(task: &Rc<Task>) -> Waker {
    let data = Rc::into_raw(task.clone()).cast::<()>();
    // SAFETY: `data` is an `Rc<Task>` given up by `into_raw`, as the vtable's functions expect;
    // the wasm has one thread, so the waker never reaches another.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

// SAFETY (the four functions): `data` comes from `waker`, an `Rc<Task>` that the waker owns.
unsafe fn clone_raw(data: *const ()) -> RawWaker {
    Rc::increment_strong_count(data.cast::<Task>());
    RawWaker::new(data, &VTABLE)
}
unsafe fn wake_raw(data: *const ()) {
    run(&Rc::from_raw(data.cast::<Task>()));
}
unsafe fn wake_by_ref_raw(data: *const ()) {
    Rc::increment_strong_count(data.cast::<Task>());
    run(&Rc::from_raw(data.cast::<Task>()));
}
unsafe fn drop_raw(data: *const ()) {
    drop(Rc::from_raw(data.cast::<Task>()));
}

/// An awaited JS promise's place: who waits for it, then what it settled with.
enum Slot {
    Free,
    Waiting(Waker),
    Ready(Result<JsValue, JsValue>),
    /// Its `Wait` was dropped before it settled: the slot is freed when it does.
    Abandoned,
}

struct Slots {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

local! {
    static SLOTS: RefCell<Slots> = const { RefCell::new(Slots { slots: Vec::new(), free: Vec::new() }) };
    /// `woken`, as the JS function `settle` calls; made on the first `.await`, kept for the page.
    static WAKE: OnceCell<JsValue> = const { OnceCell::new() };
}

impl Slots {
    fn take(&mut self, slot: Slot) -> u32 {
        match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    *s = slot;
                }
                i
            }
            None => {
                self.slots.push(slot);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        }
    }

    fn release(&mut self, i: u32) {
        if let Some(s) = self.slots.get_mut(i as usize) {
            *s = Slot::Free;
            self.free.push(i);
        }
    }
}

/// A promise settled (from `settle` in js/support.js): its outcome goes to its slot, and its
/// task is polled.
fn woken(slot: u32, ok: bool, value: JsValue) {
    let waker = SLOTS.with(|s| {
        let mut s = s.borrow_mut();
        let outcome = if ok { Ok(value) } else { Err(value) };
        match s.slots.get_mut(slot as usize) {
            Some(place @ Slot::Waiting(_)) => match core::mem::replace(place, Slot::Ready(outcome))
            {
                Slot::Waiting(w) => Some(w),
                _ => None,
            },
            Some(Slot::Abandoned) => {
                s.release(slot);
                None
            }
            _ => None,
        }
    });
    if let Some(w) = waker {
        w.wake();
    }
}

fn wake_fn() -> JsValue {
    WAKE.with(|w| {
        w.get_or_init(|| Closure::<dyn Fn(u32, bool, JsValue)>::new(woken).into_js_value())
            .clone()
    })
}

/// The future of `wait`.
#[derive(Debug)]
pub struct Wait {
    promise: Option<Promise>,
    slot: Option<u32>,
}

impl Future for Wait {
    type Output = Result<JsValue, JsValue>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(promise) = self.promise.take() {
            let slot = SLOTS.with(|s| s.borrow_mut().take(Slot::Waiting(cx.waker().clone())));
            self.slot = Some(slot);
            settle(&promise, slot, &wake_fn());
            return Poll::Pending;
        }
        let Some(slot) = self.slot else {
            return Poll::Pending;
        };
        let outcome = SLOTS.with(|s| {
            let mut s = s.borrow_mut();
            let place = s.slots.get_mut(slot as usize)?;
            if let Slot::Waiting(w) = place {
                w.clone_from(cx.waker());
                return None;
            }
            let Slot::Ready(outcome) = core::mem::replace(place, Slot::Free) else {
                return None;
            };
            s.free.push(slot);
            Some(outcome)
        });
        match outcome {
            Some(outcome) => {
                self.slot = None;
                Poll::Ready(outcome)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        let Some(slot) = self.slot else { return };
        SLOTS.with(|s| {
            let mut s = s.borrow_mut();
            match s.slots.get_mut(slot as usize) {
                Some(place @ Slot::Waiting(_)) => *place = Slot::Abandoned,
                Some(Slot::Ready(_)) => s.release(slot),
                _ => {}
            }
        });
    }
}
